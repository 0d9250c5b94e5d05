// The openai provider's reading of an answer: chat completions, embeddings, passthrough (Batch
// API lines), error bodies, and the rate-limit headers around them. See support.h for the input's
// layout (a status line, headers, a blank line, the body).
#include "tests/fuzz/support.h"

using namespace flowbatch;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::shared_ptr<Provider> openai = fuzz::make_provider("openai", "base_url = \"http://127.0.0.1:9/v1\"");
  const fuzz::RecordedExchange exchange = fuzz::read_exchange(fuzz::as_text(data, size));
  // No try: parse() promises to classify bad answers, never to throw (flowbatch/provider.h).
  fuzz::check_call_result(openai->parse(exchange.request, exchange.response), exchange);
  return 0;
}

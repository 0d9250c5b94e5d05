// The anthropic provider's reading of an answer: Messages API answers, passthrough, error bodies,
// and the anthropic-ratelimit-* headers. See support.h for the input's layout.
#include "tests/fuzz/support.h"

using namespace flowbatch;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::shared_ptr<Provider> anthropic =
      fuzz::make_provider("anthropic", "base_url = \"http://127.0.0.1:9/v1\"");
  const fuzz::RecordedExchange exchange = fuzz::read_exchange(fuzz::as_text(data, size));
  if (!anthropic->supports(exchange.request.endpoint)) return 0;  // a call node never sends it one (embeddings)
  // No try: parse() promises to classify bad answers, never to throw (flowbatch/provider.h).
  fuzz::check_call_result(anthropic->parse(exchange.request, exchange.response), exchange);
  return 0;
}

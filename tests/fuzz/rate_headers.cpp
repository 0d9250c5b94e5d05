// The rate-limit header parsers on their own: OpenAI's x-ratelimit-* (Go durations), Anthropic's
// anthropic-ratelimit-* (RFC 3339 times), retry-after(-ms) (numbers and HTTP dates),
// x-should-retry. Input: header lines, "name: value".
#include "flowbatch/rate_headers.h"
#include "flowbatch/http.h"
#include "tests/fuzz/support.h"

using namespace flowbatch;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A fixed "now", so that the same input gives the same result on any day.
  static const auto now = std::chrono::system_clock::from_time_t(1800000000);  // 2027-01-15T08:00:00Z
  const fuzz::RecordedExchange exchange = fuzz::read_exchange("429\n" + std::string(fuzz::as_text(data, size)));
  const HttpResponse& response = exchange.response;
  fuzz::check_signals(openai_rate_signals(response));
  fuzz::check_signals(anthropic_rate_signals(response, now));
  FUZZ_CHECK(retry_after_ms(response) >= -1, "a negative retry-after other than -1 (none)");
  for (const HttpHeader& h : response.headers) {  // each value read as each kind of time
    if (auto d = parse_go_duration(h.value)) FUZZ_CHECK(d->count() >= 0, "a negative Go duration");
    if (auto d = parse_rfc3339_from(h.value, now))
      FUZZ_CHECK(d->count() >= 0, "a negative time until an RFC 3339 time");
  }
  return 0;
}

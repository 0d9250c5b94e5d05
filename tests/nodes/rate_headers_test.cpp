#include <doctest/doctest.h>

#include "flowbatch/rate_headers.h"

using namespace flowbatch;
using namespace std::chrono_literals;

TEST_CASE("Go durations as OpenAI sends them") {
  CHECK(parse_go_duration("1s") == 1000ms);
  CHECK(parse_go_duration("20ms") == 20ms);
  CHECK(parse_go_duration("6m0s") == 360000ms);
  CHECK(parse_go_duration("1h2m3.5s") == 3723500ms);
  CHECK(parse_go_duration("0.5s") == 500ms);
  CHECK(!parse_go_duration(""));
  CHECK(!parse_go_duration("soon"));
  CHECK(!parse_go_duration("5x"));
  CHECK(parse_go_duration("168h") == 604800000ms);  // kMaxServerWait, a week
  CHECK(!parse_go_duration("169h"));
  CHECK(!parse_go_duration("10000000000000000000s"));  // once an overflowing conversion (fuzzing)
}

TEST_CASE("RFC 3339 times as Anthropic sends them, relative to now") {
  const auto now = std::chrono::system_clock::from_time_t(1800000000);  // 2027-01-15T08:00:00Z
  CHECK(parse_rfc3339_from("2027-01-15T08:00:02Z", now) == 2000ms);
  CHECK(parse_rfc3339_from("2027-01-15T08:00:01.250Z", now) == 1250ms);
  CHECK(parse_rfc3339_from("2027-01-15T09:00:03+01:00", now) == 3000ms);
  CHECK(parse_rfc3339_from("2027-01-15T07:59:00Z", now) == 0ms);  // in the past
  CHECK(!parse_rfc3339_from("yesterday", now));
  CHECK(!parse_rfc3339_from("2027-01-23T08:00:00Z", now));  // further away than a week
  CHECK(!parse_rfc3339_from("2027-01-15T08:00:00.5e999Z", now));
}

TEST_CASE("OpenAI rate-limit headers become signals") {
  HttpResponse r;
  r.headers = {{"x-ratelimit-limit-requests", "5000"},
               {"x-ratelimit-remaining-requests", "4999"},
               {"x-ratelimit-reset-requests", "12ms"},
               {"x-ratelimit-limit-tokens", "160000"},
               {"x-ratelimit-remaining-tokens", "159976"},
               {"x-ratelimit-reset-tokens", "6m0s"},
               {"retry-after-ms", "1500"},
               {"x-should-retry", "false"}};
  const RateLimitSignals s = openai_rate_signals(r);
  CHECK(s.limit_requests == 5000);
  CHECK(s.remaining_requests == 4999);
  CHECK(s.reset_requests == 12ms);
  CHECK(s.limit_tokens == 160000);
  CHECK(s.remaining_tokens == 159976);
  CHECK(s.reset_tokens == 360000ms);
  CHECK(s.retry_after == 1500ms);
  CHECK(s.should_retry == false);
  HttpResponse azure;
  azure.headers = {{"x-ratelimit-remaining-requests", "-1"}};  // seen from Azure: ignored, not obeyed
  CHECK(!openai_rate_signals(azure).remaining_requests);
  HttpResponse nonsense;
  nonsense.headers = {{"x-ratelimit-limit-requests", "nan"},
                      {"x-ratelimit-limit-tokens", "inf"},
                      {"x-ratelimit-remaining-tokens", "1e999"}};
  const RateLimitSignals n = openai_rate_signals(nonsense);
  CHECK(!n.limit_requests);
  CHECK(!n.limit_tokens);
  CHECK(!n.remaining_tokens);
}

TEST_CASE("Anthropic rate-limit headers become signals") {
  const auto now = std::chrono::system_clock::from_time_t(1800000000);
  HttpResponse r;
  r.headers = {{"anthropic-ratelimit-requests-limit", "50"},
               {"anthropic-ratelimit-requests-remaining", "0"},
               {"anthropic-ratelimit-requests-reset", "2027-01-15T08:00:04Z"},
               {"anthropic-ratelimit-input-tokens-limit", "40000"},
               {"anthropic-ratelimit-input-tokens-remaining", "39000"},
               {"anthropic-ratelimit-input-tokens-reset", "2027-01-15T08:00:01Z"},
               {"retry-after", "4"}};
  const RateLimitSignals s = anthropic_rate_signals(r, now);
  CHECK(s.limit_requests == 50);
  CHECK(s.remaining_requests == 0);
  CHECK(s.reset_requests == 4000ms);
  CHECK(s.limit_tokens == 40000);
  CHECK(s.remaining_tokens == 39000);
  CHECK(s.reset_tokens == 1000ms);
  CHECK(s.retry_after == 4000ms);
}

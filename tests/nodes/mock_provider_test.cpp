#include <doctest/doctest.h>

#include "engine/config/option_reader.h"
#include "engine/config/toml_loader.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
std::shared_ptr<Provider> mock(const std::string& toml) {
  Diagnostics d;
  Redactor redactor;
  static std::vector<ConfigValue> keep;  // the reader borrows the table
  keep.push_back(load_toml_text(toml, "mock.toml", ".", d));
  const ProviderType* type = builtin_registry().provider("mock");
  OptionReader reader(keep.back(), "providers.m", "m", type->keys, {d, redactor, true});
  auto p = type->configure(reader);
  REQUIRE_MESSAGE(!d.has_errors(), d.str());
  return p;
}

CallRequest mock_chat(const std::string& user, std::uint32_t attempt = 1) {
  CallRequest r;
  r.model = "m";
  r.messages = {{"system", "be brief"}, {"user", user}};
  r.attempt = attempt;
  return r;
}
}  // namespace

TEST_CASE("the mock answers deterministically, with usage, after a reproducible latency") {
  auto p = mock("latency_ms = 40\nreplies = [\"a\", \"b\", \"c\"]");
  const Dispatch one = p->dispatch(mock_chat("hello"));
  const Dispatch two = p->dispatch(mock_chat("hello"));
  REQUIRE(one.kind == Dispatch::Kind::immediate);
  REQUIRE(!one.result.failure);
  CHECK(one.result.outputs.at(0) == two.result.outputs.at(0));
  CHECK(one.delay == two.delay);
  CHECK(one.delay > std::chrono::milliseconds(0));  // a latency was simulated, not skipped
  CHECK(one.result.usage.input_tokens > 0);
  CHECK(one.result.usage.output_tokens == 1);
  const std::string reply(one.result.outputs.at(0).as_string());
  CHECK((reply == "a" || reply == "b" || reply == "c"));
}

TEST_CASE("simulated failure rates are honoured per attempt, with their classes") {
  auto p = mock("failure_rate = 0.3\nrate_limit_rate = 0.1\nretry_after_ms = 250");
  int server = 0, rate = 0, ok = 0;
  for (int i = 0; i < 4000; ++i) {
    const Dispatch d = p->dispatch(mock_chat("prompt " + std::to_string(i)));
    if (!d.result.failure) ++ok;
    else if (d.result.failure->error_class == ErrorClass::server) ++server;
    else if (d.result.failure->error_class == ErrorClass::rate_limit) {
      ++rate;
      CHECK(d.result.failure->retry_after_ms == 250);
      CHECK(d.result.failure->http_status == 429);
    }
  }
  CHECK(server > 1000);
  CHECK(server < 1400);
  CHECK(rate > 300);
  CHECK(rate < 500);
  CHECK(ok + server + rate == 4000);
  // A later attempt of a failed request rolls again, so retries can succeed.
  int recovered = 0;
  for (int i = 0; i < 200; ++i) {
    if (p->dispatch(mock_chat("prompt " + std::to_string(i))).result.failure &&
        !p->dispatch(mock_chat("prompt " + std::to_string(i), 2)).result.failure)
      ++recovered;
  }
  CHECK(recovered > 0);
}

TEST_CASE("the mock rejects what a real API rejects") {
  auto p = mock("max_prompt_chars = 100");
  auto empty = p->dispatch(mock_chat("   ")).result;
  REQUIRE(empty.failure);
  CHECK(empty.failure->error_class == ErrorClass::invalid_request);
  CHECK(empty.failure->http_status == 400);
  auto huge = p->dispatch(mock_chat(std::string(200, 'x'))).result;
  REQUIRE(huge.failure);
  CHECK(huge.failure->error_class == ErrorClass::invalid_request);
}

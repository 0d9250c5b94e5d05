// The redact_pii example plugin (examples/plugins/redact_pii), loaded as a plugin and run in a
// graph: what it redacts, what it leaves alone, and that long runs of characters stay linear.
#include <doctest/doctest.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// Each text through redact_pii (every pattern), in order.
std::vector<std::string> redacted(const std::vector<std::string>& texts) {
  TempDir dir;
  std::string in;
  for (const auto& t : texts) in += boost::json::serialize(boost::json::object{{"text", t}}) + "\n";
  dir.write("in.jsonl", in);
  auto run = run_text(R"([pipeline]
plugins = ["redact_pii"]
[sources.in]
path = "in.jsonl"
[transforms.redact]
type = "redact_pii"
inputs = ["in"]
patterns = ["email", "phone", "credit_card", "ipv4"]
[sinks.out]
inputs = ["redact"]
path = "out.jsonl"
)",
                      dir, {}, &plugin_registry());
  REQUIRE_MESSAGE(run.compiled.plan, run.compiled.diagnostics.str());
  std::vector<std::string> out;
  for (const auto& o : read_jsonl(dir / "out.jsonl")) out.emplace_back(o.at("text").as_string());
  return out;
}

}  // namespace

TEST_CASE("redact_pii replaces e-mail addresses, phone and card numbers and IPv4 addresses") {
  const auto out = redacted({
      "write to jane.doe+news@mail.example.com.",
      "call +49 (30) 1234-5678 or 030 1234567",
      "card 4111 1111 1111 1111, expires soon",
      "from 192.168.1.20 at night",
  });
  REQUIRE(out.size() == 4);
  CHECK(out[0] == "write to [EMAIL].");
  CHECK(out[1] == "call [PHONE] or [PHONE]");
  CHECK(out[2] == "card [CREDIT_CARD], expires soon");
  CHECK(out[3] == "from [IPV4] at night");
}

TEST_CASE("redact_pii leaves dates, times, order codes, short numbers and failed card checks alone") {
  const auto out = redacted({
      "due 2024-01-15 10:30, or 15.01.2024, or 01/15/2024",
      "order A1234567 of 3 items, ticket #42",
      "not a card: 4111 1111 1111 1112 9",
      "version 1.2.3.4.5",
  });
  REQUIRE(out.size() == 4);
  CHECK(out[0] == "due 2024-01-15 10:30, or 15.01.2024, or 01/15/2024");
  CHECK(out[1] == "order A1234567 of 3 items, ticket #42");
  CHECK(out[2] == "not a card: 4111 1111 1111 1112 9");
  CHECK(out[3] == "version 1.2.3.4.5");
}

TEST_CASE("redact_pii stays linear on long runs (a quadratic scan would outlast the test's time-out)") {
  std::string dashes, digits;
  for (int i = 0; i < 200000; ++i) dashes += "a-";
  for (int i = 0; i < 200000; ++i) digits += "1 ";
  const auto out = redacted({dashes, digits, dashes + "x@example.com"});
  REQUIRE(out.size() == 3);
  CHECK(out[0] == dashes);  // every word start of it could begin an address: none does
  CHECK(out[1] == digits);  // 200,000 digits are no phone number
  CHECK(out[2] == "[EMAIL]");
}

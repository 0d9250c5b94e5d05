#include <doctest/doctest.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

TEST_CASE("a dead-letter record holds id, input, reason, status, request id, attempts and times") {
  TempDir dir;
  dir.write("in.jsonl", "{\"id\": \"x1\", \"text\": \"hello\", \"n\": 3}\n");
  auto run = run_text(R"(
[providers.sim]
type = "mock"
failure_rate = 1.0
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in", "r"]
provider = "sim"
prompt = "{{text}}"
[retries.r]
inputs = ["c.error"]
max_attempts = 2
initial_backoff_ms = 1
[dead_letters.dead]
inputs = ["r.exhausted"]
path = "failed/dead.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                      dir);
  const auto records = read_jsonl(dir / "failed/dead.jsonl");
  REQUIRE(records.size() == 1);
  const auto& r = records[0];
  CHECK(r.at("id").as_string() == "x1");
  CHECK(r.at("line").as_int64() == 1);
  CHECK(r.at("node").as_string() == "c");
  CHECK(r.at("error").at("class").as_string() == "server");
  CHECK(r.at("error").at("message").as_string() == "simulated server error: overloaded");
  CHECK(r.at("error").at("http_status").as_int64() == 503);
  CHECK(r.at("error").at("request_id").as_string().starts_with("mock-"));
  CHECK(r.at("attempts").as_int64() == 2);
  CHECK(r.at("error_history") == boost::json::array{"server", "server"});
  CHECK(r.at("first_attempt_at").as_string().ends_with("Z"));
  CHECK(r.at("last_attempt_at").as_string() >= r.at("first_attempt_at").as_string());
  CHECK(r.at("input") == boost::json::object{{"id", "x1"}, {"text", "hello"}, {"n", 3}});
  CHECK(run.report.exit_code == 3);
}

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <oneapi/tbb/info.h>

#include <algorithm>

#include "engine/runtime/exit_codes.h"
#include "engine/runtime/runner.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

std::string pipeline(const std::string& provider_extra, const std::string& batch, std::size_t max_in_flight = 10000) {
  return fmt::format(R"(
[pipeline]
name = "t"
max_in_flight = {}

[providers.sim]
type = "mock"
max_concurrency = 8
{}

[sources.in]
path = "in.jsonl"
id_field = "id"

[batches.b]
inputs = ["in"]
{}

[calls.c]
inputs = ["b", "r"]
provider = "sim"
prompt = "{{{{text}}}}"

[retries.r]
inputs = ["c.error"]
max_attempts = 10
initial_backoff_ms = 1
max_backoff_ms = 20

[dead_letters.dead]
inputs = ["r.exhausted", "in.invalid"]
path = "dead.jsonl"

[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     max_in_flight, provider_extra, batch);
}

/// Every input id appears exactly once across the results and the dead letter.
void check_exactly_once(const TempDir& dir, std::size_t n) {
  auto out = count_ids(read_jsonl(dir / "out.jsonl"));
  auto dead = count_ids(read_jsonl(dir / "dead.jsonl"));
  for (std::size_t i = 1; i <= n; ++i) {
    const std::string id = fmt::format("i{}", i);
    CHECK_MESSAGE(out[id] + dead[id] == 1, id);
  }
  std::size_t total = 0;
  for (auto& [id, c] : out) total += static_cast<std::size_t>(c);
  for (auto& [id, c] : dead) total += static_cast<std::size_t>(c);
  CHECK(total == n);
}

}  // namespace

TEST_CASE("every item ends exactly once, through failures and retries") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(3000));
  auto run =
      run_text(pipeline("failure_rate = 0.2\nrate_limit_rate = 0.05\nretry_after_ms = 2", "max_items = 16"), dir);
  CHECK(run.report.exit_code == kExitOk);  // with 10 attempts, none is left failing
  CHECK(run.report.succeeded == 3000);
  CHECK(run.report.retries > 300);  // the failures really happened and were retried
  check_exactly_once(dir, 3000);
  for (const auto& r : read_jsonl(dir / "out.jsonl")) {
    CHECK(r.contains("output"));
    CHECK(r.at("output").as_string().starts_with("mock reply "));
  }
}

TEST_CASE("items that keep failing reach the dead letter, and the exit code says so") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(200));
  auto run = run_text(pipeline("failure_rate = 1.0", "max_items = 10"), dir, {"retries.r.max_attempts=3"});
  CHECK(run.report.exit_code == kExitDeadLetters);
  CHECK(run.report.dead == 200);
  CHECK(run.report.requests == 600);  // three attempts each
  for (const auto& r : read_jsonl(dir / "dead.jsonl")) {
    CHECK(r.at("attempts").as_int64() == 3);
    CHECK(r.at("error").at("class").as_string() == "server");
    CHECK(r.at("error_history").as_array().size() == 3);
  }
  check_exactly_once(dir, 200);
}

TEST_CASE("max_in_flight bounds the items alive at once") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(2000));
  auto run = run_text(pipeline("latency_ms = 2", "max_items = 4\ntimeout_ms = 5", 40), dir);
  CHECK(run.report.succeeded == 2000);
  CHECK(run.report.peak_in_flight > 0);
  CHECK(run.report.peak_in_flight <= 40);
  CHECK(run.report.peak_in_flight >= 20);  // and the budget is actually used
}

TEST_CASE("a partial batch leaves at end of input, without waiting for its time-out") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(7));
  // An hour-long time-out: if end of input did not flush, this test would hit ctest's time-out.
  auto run = run_text(pipeline("", "max_items = 5\ntimeout_ms = 3600000"), dir);
  CHECK(run.report.succeeded == 7);
  check_exactly_once(dir, 7);
}

TEST_CASE("items waiting out a long back-off keep the run alive until they are done") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(50));
  // Every first attempt is rate limited with a 300 ms Retry-After: wait_for_all() must not return
  // while those items sit in the timer.
  auto run = run_text(pipeline("rate_limit_rate = 1.0\nretry_after_ms = 300", "max_items = 5"), dir,
                      {"retries.r.max_attempts=2"});
  CHECK(run.report.dead == 50);
  CHECK(run.report.retries == 50);
  CHECK(run.report.requests == 100);
  check_exactly_once(dir, 50);
}

TEST_CASE("one output feeding two consumers gives each its own copy") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(500));
  auto run = run_text(std::string(R"(
[providers.sim]
type = "mock"
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "sim"
prompt = "{{text}}"
[sinks.a]
inputs = ["c"]
path = "a.jsonl"
[sinks.b]
inputs = ["c"]
path = "b.jsonl"
)"),
                      dir);
  CHECK(run.report.exit_code == kExitOk);
  CHECK(run.report.succeeded == 1000);
  CHECK(count_ids(read_jsonl(dir / "a.jsonl")).size() == 500);
  CHECK(count_ids(read_jsonl(dir / "b.jsonl")).size() == 500);
  // Progress and the summary count input records once, not once per sink.
  const auto& records = run.report.json.at("records").as_object();
  CHECK(records.at("ok").to_number<int>() == 500);
  CHECK(records.at("failed").to_number<int>() == 0);
  CHECK(records.at("expected").to_number<int>() == 500);
  CHECK(run.report.summary.find(", 500 items (") != std::string::npos);
  CHECK(run.report.summary.find("  sink         a                           500 items") != std::string::npos);
}

TEST_CASE("records count once however many sinks their items reach: an undecodable one as failed") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(20) + "not json\n");
  auto run = run_text(std::string(R"(
[providers.sim]
type = "mock"
[sources.in]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["in"]
provider = "sim"
prompt = "{{text}}"
[dead_letters.d]
inputs = ["in.invalid"]
path = "d.jsonl"
[sinks.a]
inputs = ["c"]
path = "a.jsonl"
[sinks.b]
inputs = ["c"]
path = "b.jsonl"
)"),
                      dir);
  CHECK(run.report.exit_code == kExitDeadLetters);
  const auto& records = run.report.json.at("records").as_object();
  CHECK(records.at("ok").to_number<int>() == 20);
  CHECK(records.at("failed").to_number<int>() == 1);
}

TEST_CASE("an output connected to nothing discards its items, counted") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(100));
  auto run = run_text(R"(
[providers.sim]
type = "mock"
[sources.in]
path = "in.jsonl"
[calls.c]
inputs = ["in"]
provider = "sim"
prompt = "{{text}}"
[sinks.out]
inputs = ["in"]
path = "out.jsonl"
)",
                      dir);
  CHECK(run.report.exit_code == kExitOk);
  CHECK(run.report.succeeded == 100);
  CHECK(run.report.discarded == 100);
}

TEST_CASE("a sink that cannot write stops the run with a fatal error naming it") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(100));
  dir.write("blocker", "a file where a folder should be");
  auto run = run_text(R"(
[sources.in]
path = "in.jsonl"
[sinks.out]
inputs = ["in"]
path = "blocker/out.jsonl"
)",
                      dir);
  CHECK(run.report.exit_code == kExitFatal);
  CHECK(run.report.fatal_error.find("blocker") != std::string::npos);
}

TEST_CASE("an empty input finishes at once with nothing written") {
  TempDir dir;
  dir.write("in.jsonl", "");
  auto run = run_text(pipeline("", "max_items = 5"), dir);
  CHECK(run.report.exit_code == kExitOk);
  CHECK(run.report.succeeded == 0);
  CHECK(read_jsonl(dir / "out.jsonl").empty());
}

TEST_CASE("a graph whose providers are all HTTP APIs runs its tasks on one thread unless pipeline.threads says") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  std::string graph = pipeline("base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"\"", "");
  graph.replace(graph.find("type = \"mock\""), 13, "type = \"openai\"");
  const CompileResult http = compile_text(graph, dir);
  REQUIRE_MESSAGE(http.plan, http.diagnostics.str());
  CHECK(graph_threads(*http.plan) == 1);
  const CompileResult three = compile_text(graph, dir, {"pipeline.threads=3"});
  REQUIRE_MESSAGE(three.plan, three.diagnostics.str());
  CHECK(graph_threads(*three.plan) == 3);
  // A provider computing in process (the mock) makes the graph compute-bound: every core.
  const CompileResult mock = compile_text(pipeline("", ""), dir);
  REQUIRE_MESSAGE(mock.plan, mock.diagnostics.str());
  CHECK(graph_threads(*mock.plan) == static_cast<std::size_t>(std::max(1, oneapi::tbb::info::default_concurrency())));
}

// [pipeline] window: requests start only inside it. The window's arithmetic is tested with a fake
// clock (tests/engine/core/run_window_test.cpp); these runs use the real one, with windows a few
// seconds from now.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>

#include "engine/runtime/exit_codes.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;
using namespace std::chrono;

namespace {

/// "HH:MM:SS" in UTC, `from_now` from now.
std::string clock_in(seconds from_now) {
  const auto t = system_clock::now() + from_now;
  const auto s = duration_cast<seconds>(t - floor<days>(t)).count();
  return fmt::format("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

std::string graph(const std::string& window, bool exit) {
  return fmt::format(R"([pipeline]
window = "{} UTC"
window_exit = {}
[sources.in]
path = "in.jsonl"
id_field = "id"
[providers.p]
type = "mock"
[calls.c]
inputs = ["in"]
provider = "p"
prompt = "{{{{text}}}}"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     window, exit);
}

}  // namespace

TEST_CASE("window: a run started before its window makes no request until the window opens") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(20));
  const auto opens = seconds(3);
  const auto started = steady_clock::now();
  const auto run = run_text(graph(clock_in(opens) + "-" + clock_in(hours(1)), false), dir);
  const auto took = steady_clock::now() - started;
  REQUIRE_MESSAGE(run.report.exit_code == 0, run.console);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 20);
  CHECK(run.console.find("outside the run window") != std::string::npos);
  CHECK(took >= opens - seconds(1));  // the window's start is rounded to its second
}

TEST_CASE("window: with window_exit, a run outside its window stops resumably and sends nothing") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(20));
  const std::string g = graph(clock_in(hours(2)) + "-" + clock_in(hours(3)), true);
  const auto run = run_text(g, dir);
  CHECK(run.report.exit_code == kExitResumable);
  CHECK(run.report.json.at("requests").as_object().at("count").to_number<int>() == 0);
  CHECK(run.console.find("outside the run window") != std::string::npos);
  // Inside the window (here: without one), the same state resumes and does everything.
  const auto again = resume_text(g, dir, {"pipeline.window=00:00-23:59:59 UTC"});
  CHECK(again.report.exit_code == 0);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 20);
}

TEST_CASE("window: a malformed window is a configuration error at its key") {
  TempDir dir;
  const auto compiled = compile_text("[pipeline]\nwindow = \"10pm-6am\"\n[sources.in]\npath = \"in.jsonl\"\n", dir);
  CHECK(!compiled.plan);
  CHECK(compiled.diagnostics.str().find("graph.toml:2:10: error: pipeline.window: must be \"HH:MM-HH:MM\"") !=
        std::string::npos);
}

// [alerts.NAME] read with the graph: typed rules in the Plan, and every mistake reported at its
// key's file:line:column before anything runs.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// The 1-based line of the first line of `text` that starts with `start`.
std::size_t line_starting(const std::string& text, const std::string& start) {
  std::size_t line = 1;
  for (std::size_t at = 0; at < text.size(); at = text.find('\n', at) + 1, ++line) {
    if (text.compare(at, start.size(), start) == 0) return line;
    if (text.find('\n', at) == std::string::npos) break;
  }
  FAIL("no line starts with ", start);
  return 0;
}

std::string chat_graph() {
  ChatGraph graph;
  graph.base_url = "http://127.0.0.1:9/v1";
  return graph.toml();
}

}  // namespace

TEST_CASE("alert rules are read into the plan with their defaults") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  const CompileResult r = compile_text(chat_graph() + R"(
[alerts.failing]
rule = "success_rate"

[alerts.slow]
rule = "latency"
above = 3
baseline_ms = 60000
url = "http://127.0.0.1:9/hook"
pause = true

[alerts.stuck]
rule = "no_progress"
window_ms = 600000
command = ["sh", "-c", "cat > alert.json"]
)",
                                       dir, {"pipeline.listen=127.0.0.1:0"});
  REQUIRE_MESSAGE(r.plan, r.diagnostics.str());
  const auto& alerts = r.plan->alerts;
  REQUIRE(alerts.size() == 3);
  CHECK(alerts[0].name == "alerts.failing");
  CHECK(alerts[0].kind == AlertKind::success_rate);
  CHECK(alerts[0].threshold == doctest::Approx(0.95));
  CHECK(alerts[0].window == std::chrono::minutes(5));
  CHECK(alerts[0].resolve_after == std::chrono::minutes(1));
  CHECK_FALSE(alerts[0].target);
  CHECK_FALSE(alerts[0].pause);
  CHECK(alerts[1].kind == AlertKind::latency);
  CHECK(alerts[1].threshold == doctest::Approx(3));
  CHECK(alerts[1].baseline == std::chrono::minutes(1));
  REQUIRE(alerts[1].target);
  CHECK(alerts[1].target->url == "http://127.0.0.1:9/hook");
  CHECK(alerts[1].target->name == "alerts.slow");
  CHECK(alerts[1].pause);
  REQUIRE(alerts[2].target);
  CHECK(alerts[2].target->command.size() == 3);
  CHECK(alerts[2].window == std::chrono::minutes(10));
}

TEST_CASE("mistakes in an alert rule are errors at their key's file, line and column") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  const std::string toml = chat_graph() + R"(
[alerts.cheap]
rule = "cost"

[alerts.slow]
rule = "latency"
below = 0.5

[alerts.shares]
rule = "rate_limited"
above = 20

[alerts.typo]
rule = "sucess_rate"

[alerts.both]
rule = "no_progress"
url = "http://127.0.0.1:9/hook"
command = ["true"]
window_ms = 500
)";
  const CompileResult r = compile_text(toml, dir);
  CHECK_FALSE(r.plan);
  const std::string errors = r.diagnostics.str();
  // "graph.toml:LINE:COLUMN: error: KEY: ..." of the diagnostic naming `key`.
  auto diagnostic = [&](const std::string& key) {
    const auto at = errors.find(": " + key + ":");
    REQUIRE_MESSAGE(at != std::string::npos, key, " is not named in:\n", errors);
    const auto begin = errors.rfind("graph.toml:", at);  // the temporary folder before it varies
    return errors.substr(begin, errors.find('\n', at) - begin);
  };
  auto where = [&](const std::string& line_start, int column) {
    return fmt::format("graph.toml:{}:{}: error: ", line_starting(toml, line_start), column);
  };
  CHECK(diagnostic("alerts.cheap.above").find("a cost rule needs `above`") != std::string::npos);
  CHECK(diagnostic("alerts.cheap.above")
            .starts_with(fmt::format("graph.toml:{}:", line_starting(toml, "[alerts.cheap]"))));
  CHECK(diagnostic("alerts.slow.below") ==
        where("below = 0.5", 9) + "alerts.slow.below: a latency rule takes `above`, not `below`");
  CHECK(diagnostic("alerts.shares.above").starts_with(where("above = 20", 9) + "alerts.shares.above: a share"));
  CHECK(diagnostic("alerts.both.window_ms").starts_with(where("window_ms = 500", 13)));
  CHECK(errors.find("alerts.typo.rule") != std::string::npos);
  CHECK(errors.find("success_rate") != std::string::npos);  // the did-you-mean
  CHECK(errors.find("alerts.both") != std::string::npos);
  CHECK(errors.find("exactly one of url") != std::string::npos);
}

TEST_CASE("an alert that pauses a run nothing can resume is warned about") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(1));
  const CompileResult r = compile_text(chat_graph() + "\n[alerts.stop]\nrule = \"success_rate\"\npause = true\n", dir);
  REQUIRE_MESSAGE(r.plan, r.diagnostics.str());
  CHECK(r.diagnostics.str().find("alerts.stop.pause: without pipeline.listen") != std::string::npos);
}

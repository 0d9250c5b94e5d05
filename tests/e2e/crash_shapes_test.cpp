// Exactly once for every graph shape: a call feeding two sinks that commit at different paces
// (plus a dead letter), and records split into several items, killed with SIGKILL at random
// moments and resumed until done: every id once in each output, each request paid for once but
// for those in flight at a kill.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <random>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch::test;
using namespace std::chrono_literals;

namespace {

constexpr int kShapesConcurrency = 8;

std::string input(int items) {
  std::string text;
  for (int i = 1; i <= items; ++i) {
    text += fmt::format("{{\"id\": \"i{}\", \"text\": \"question {}\"}}\n", i, i);
    if (i % 500 == 0) text += "{broken line\n";
  }
  return text;
}

/// What both graphs share; `pipeline_keys` go into [pipeline].
std::string common(const std::string& base_url, const std::string& pipeline_keys = "") {
  return fmt::format(R"(
[pipeline]
progress = "off"
{}
[providers.api]
type = "openai"
base_url = "{}"
api_key_env = ""
max_concurrency = {}
[sources.in]
path = "in.jsonl"
id_field = "id"
[retries.again]
inputs = ["ask.error"]
max_attempts = 6
initial_backoff_ms = 20
max_backoff_ms = 200
[dead_letters.failed]
inputs = ["again.exhausted", "in.invalid"]
path = "failed.jsonl"
flush_every = 5
flush_interval_ms = 50
)",
                     pipeline_keys, base_url, kShapesConcurrency);
}

/// Kills the run ten times, then finishes it; returns the kills.
int crash_and_finish(const TempDir& dir) {
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  const int kills = kill_at_random_moments({"g.toml"}, dir.path(), 10, seed, 150ms, 900ms);
  CHECK(kills >= 6);  // really interrupted, many times
  auto last = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE((last.exit_code == 0 || last.exit_code == 3), last.err);
  return kills;
}

void check_paid_once(const MockServer& server, int kills) {
  const auto stats = server.stats();
  const int repeated = stats.at("repeated_answers").to_number<int>();
  MESSAGE("kills: ", kills, ", requests: ", stats.at("requests").to_number<int>(), ", answered twice: ", repeated);
  CHECK(repeated <= kills * kShapesConcurrency);
}

}  // namespace

TEST_CASE("fan-out: one call feeding two sinks with different flush paces, killed ten times: every id once in each") {
  constexpr int kItems = 2000;
  MockServer server({"--latency-ms", "25", "--error-rate", "0.05", "--seed", "5"});
  TempDir dir;
  dir.write("in.jsonl", input(kItems));
  dir.write("g.toml", common(server.base_url()) + R"(
[calls.ask]
inputs = ["in", "again"]
provider = "api"
model = "m"
prompt = "Q: {{text}}"
cache = true
[sinks.a]
inputs = ["ask"]
path = "a.jsonl"
flush_every = 10
flush_interval_ms = 50
[sinks.b]
inputs = ["ask"]
path = "b.jsonl"
flush_every = 200
flush_interval_ms = 1000
)");
  const int kills = crash_and_finish(dir);

  const auto a = count_ids(read_jsonl(dir / "a.jsonl"));
  const auto b = count_ids(read_jsonl(dir / "b.jsonl"));
  const auto failed = count_ids(read_jsonl(dir / "failed.jsonl"));
  for (const auto& [id, n] : a) CHECK_MESSAGE(n == 1, "a: ", id, " written ", n, " times");
  for (const auto& [id, n] : b) CHECK_MESSAGE(n == 1, "b: ", id, " written ", n, " times");
  CHECK(a == b);  // the same answers reach both
  for (int i = 1; i <= kItems; ++i) {
    const std::string id = fmt::format("i{}", i);
    CHECK_MESSAGE((a.count(id) ? 1 : 0) + (failed.count(id) ? failed.at(id) : 0) == 1, id);
  }
  check_paid_once(server, kills);
}

TEST_CASE("split records: a transform making three items of each record, killed ten times: every part once") {
  constexpr int kItems = 600;
  MockServer server({"--latency-ms", "25", "--error-rate", "0.05", "--seed", "6"});
  TempDir dir;
  dir.write("in.jsonl", input(kItems));
  const std::string plugins = fmt::format("plugins = [\"{}/splitter.so\"]", FLOWBATCH_TEST_PLUGIN_DIR);
  dir.write("g.toml", common(server.base_url(), plugins) + fmt::format(R"(
[transforms.parts]
type = "split"
inputs = ["in"]
[calls.ask]
inputs = ["parts", "again"]
provider = "api"
model = "m"
prompt = "Q: {{{{text}}}} part {{{{part}}}}"
cache = true
[sinks.out]
inputs = ["ask"]
path = "out.jsonl"
flush_every = 7
flush_interval_ms = 50
)"));
  const int kills = crash_and_finish(dir);

  const auto out = count_ids(read_jsonl(dir / "out.jsonl"));
  const auto failed = count_ids(read_jsonl(dir / "failed.jsonl"));
  for (const auto& [id, n] : out) CHECK_MESSAGE(n == 1, id, " written ", n, " times");
  for (int i = 1; i <= kItems; ++i)
    for (int part = 0; part < 3; ++part) {
      const std::string id = fmt::format("i{}.{}", i, part);
      CHECK_MESSAGE((out.count(id) ? 1 : 0) + (failed.count(id) ? failed.at(id) : 0) == 1, id);
    }
  check_paid_once(server, kills);
}

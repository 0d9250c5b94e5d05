// A job killed with SIGKILL at random moments (while reading, calling, retrying, flushing) and
// started again each time ends with every item exactly once, each result its own, and — with
// the cache on — no request answered twice except those in flight at a kill.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <csignal>
#include <random>

#include "engine/core/hash.h"
#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;
using namespace std::chrono_literals;

namespace {

constexpr int kItems = 1200;
constexpr int kConcurrency = 8;
constexpr int kKills = 10;

std::string graph(const std::string& base_url) {
  return fmt::format(R"(
[pipeline]
progress = "off"
[providers.api]
type = "openai"
base_url = "{}"
api_key_env = ""
max_concurrency = {}
[sources.in]
path = "in.jsonl"
id_field = "id"
[batches.b]
inputs = ["in"]
max_items = 10
timeout_ms = 50
[calls.ask]
inputs = ["b", "again"]
provider = "api"
model = "m"
prompt = "Q: {{{{text}}}}"
cache = true
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
[sinks.out]
inputs = ["ask"]
path = "out.jsonl"
flush_every = 25
flush_interval_ms = 100
)",
                     base_url, kConcurrency);
}

std::string mock_reply(const std::string& text) { return "mock reply " + hex16(stable_hash(text, 0)); }

}  // namespace

TEST_CASE("killed with SIGKILL ten times, resumed each time: every item once, each result its own, paid once") {
  MockServer server({"--latency-ms", "25", "--error-rate", "0.05", "--seed", "3"});
  TempDir dir;
  std::string input;
  for (int i = 1; i <= kItems; ++i) {
    input += fmt::format("{{\"id\": \"i{}\", \"text\": \"question {}\"}}\n", i, i);
    if (i % 300 == 0) input += "{broken line\n";  // invalid records take the dead-letter path too
  }
  dir.write("in.jsonl", input);
  dir.write("g.toml", graph(server.base_url()));

  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  const int kills = kill_at_random_moments({"g.toml"}, dir.path(), kKills, seed, 60ms, 900ms);
  CHECK(kills >= 6);  // the job was really interrupted, many times

  auto last = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE((last.exit_code == 0 || last.exit_code == 3), last.err);

  // Every line of the outputs is whole JSON (read_jsonl fails the test otherwise), and every
  // input id is there exactly once.
  const auto out = read_jsonl(dir / "out.jsonl");
  const auto failed = read_jsonl(dir / "failed.jsonl");
  auto ids = count_ids(out);
  for (const auto& [id, n] : count_ids(failed)) ids[id] += n;
  for (int i = 1; i <= kItems; ++i) CHECK_MESSAGE(ids[fmt::format("i{}", i)] == 1, "i", i);
  std::size_t broken = 0;
  for (const auto& f : failed) broken += f.at("error").at("class").as_string() == "invalid_input" ? 1 : 0;
  CHECK(broken == 4);
  CHECK(out.size() + failed.size() == kItems + 4);

  // Each result belongs to its item.
  for (const auto& o : out)
    CHECK(o.at("output").as_string() == mock_reply("Q: " + std::string(o.at("text").as_string())));

  // Paid once: only requests in flight at a kill can have been answered twice.
  const auto stats = server.stats();
  const int repeated = stats.at("repeated_answers").to_number<int>();
  MESSAGE("kills: ", kills, ", requests: ", stats.at("requests").to_number<int>(), ", answered twice: ", repeated);
  CHECK(repeated <= kills * kConcurrency);
}

TEST_CASE("a run that finished does nothing when started again — --fresh starts over") {
  MockServer server;
  TempDir dir;
  std::string input;
  for (int i = 1; i <= 30; ++i) input += fmt::format("{{\"id\": \"i{}\", \"text\": \"q {}\"}}\n", i, i);
  dir.write("in.jsonl", input);
  dir.write("g.toml", graph(server.base_url()));
  CHECK(run_flowbatch({"g.toml"}, dir.path()).exit_code == 0);
  const int first = server.stats().at("requests").to_number<int>();
  auto again = run_flowbatch({"g.toml"}, dir.path());
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("skipped 30 items a previous run completed") != std::string::npos);
  CHECK(server.stats().at("requests").to_number<int>() == first);  // nothing sent
  CHECK(read_jsonl(dir / "out.jsonl").size() == 30);

  auto status = run_flowbatch({"status", "g.toml"}, dir.path());
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("finished") != std::string::npos);
  CHECK(status.out.find("30 records completed") != std::string::npos);

  auto fresh = run_flowbatch({"g.toml", "--fresh"}, dir.path());
  CHECK(fresh.exit_code == 0);
  CHECK(fresh.err.find("the previous state was moved to") != std::string::npos);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 30);  // written again, once
  // The response cache outlives the state: a fresh start is answered from it, nothing paid twice.
  CHECK(server.stats().at("requests").to_number<int>() == first);
  CHECK(fresh.err.find("from the cache") != std::string::npos);
}

TEST_CASE("flowbatch status tells a run that is running from one killed with SIGKILL") {
  MockServer server({"--latency-ms", "200", "--latency-sigma", "0"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(400));
  dir.write("g.toml", graph(server.base_url()));
  const pid_t pid = start_flowbatch({"g.toml"}, dir.path());
  REQUIRE(eventually([&] { return server.stats().at("requests").to_number<int>() >= 4; }, 10s));
  const auto running = run_flowbatch({"status", "g.toml"}, dir.path());
  CHECK(running.out.find(": running (") != std::string::npos);
  ::kill(pid, SIGKILL);
  CHECK(wait_exit(pid) == 128 + SIGKILL);
  const auto killed = run_flowbatch({"status", "g.toml"}, dir.path());
  CHECK_MESSAGE(
      killed.out.find(": interrupted (killed or crashed: run the same command to go on)") != std::string::npos,
      killed.out);
  CHECK(killed.out.find("last run: \n") == std::string::npos);  // no empty line of counters
  CHECK(run_flowbatch({"g.toml"}, dir.path()).exit_code == 0);  // and it does go on
  CHECK(run_flowbatch({"status", "g.toml"}, dir.path()).out.find(": finished (") != std::string::npos);
}

TEST_CASE("an input line changed under a resumed run is reported, its earlier result kept") {
  MockServer server;
  TempDir dir;
  dir.write("in.jsonl", "{\"id\": \"a\", \"text\": \"one\"}\n{\"id\": \"b\", \"text\": \"two\"}\n");
  dir.write("g.toml", graph(server.base_url()));
  CHECK(run_flowbatch({"g.toml"}, dir.path()).exit_code == 0);
  dir.write("in.jsonl",
            "{\"id\": \"a\", \"text\": \"ONE, edited\"}\n{\"id\": \"b\", \"text\": \"two\"}\n{\"id\": \"c\", \"text\": "
            "\"three\"}\n");
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("line 1 changed since a previous run completed it") != std::string::npos);
  CHECK(r.err.find("1 of them changed since") != std::string::npos);
  const auto out = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(out.at("a") == 1);  // not mixed: one result for a
  CHECK(out.at("c") == 1);  // the new line was done
}

TEST_CASE("a damaged state file stops the run with a clear message and a way out") {
  TempDir dir;
  dir.write("in.jsonl", "{\"id\": \"a\", \"text\": \"one\"}\n");
  dir.write("g.toml", graph("http://127.0.0.1:9/v1"));
  dir.write(".flowbatch/g.db", std::string(8192, 'z'));
  auto r = run_flowbatch({"g.toml"}, dir.path());
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("is not a flowbatch state, or is damaged") != std::string::npos);
  CHECK(r.err.find("--fresh") != std::string::npos);
}

// flowbatch replay: dead letters fed back through the graph once the cause is fixed.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <random>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch::test;
namespace fs = std::filesystem;

namespace {
std::string graph(const std::string& base_url) {
  return fmt::format(R"(
[pipeline]
progress = "off"
[providers.p]
type = "openai"
base_url = "{}"
api_key_env = ""
[sources.tickets]
path = "in.jsonl"
id_field = "id"
[calls.c]
inputs = ["tickets", "r"]
provider = "p"
model = "m"
prompt = "{{{{text}}}}"
[retries.r]
inputs = ["c.error"]
max_attempts = 2
initial_backoff_ms = 1
[dead_letters.failed]
inputs = ["r.exhausted", "tickets.invalid"]
path = "failed.jsonl"
[sinks.out]
inputs = ["c"]
path = "out.jsonl"
)",
                     base_url);
}
}  // namespace

TEST_CASE("replay sends dead letters through the graph again and adds the results") {
  TempDir dir;
  std::string input;
  for (int i = 1; i <= 40; ++i) input += fmt::format("{{\"id\": \"t{}\", \"text\": \"ticket {}\"}}\n", i, i);
  input += "not json at all\n";
  dir.write("in.jsonl", input);

  {  // The API is down: every call fails and lands in the dead letter.
    MockServer broken({"--error-rate", "1"});
    dir.write("g.toml", graph(broken.base_url()));
    auto r = run_flowbatch({"g.toml"}, dir.path());
    CHECK(r.exit_code == 3);
  }
  const auto first_dead = read_jsonl(dir / "failed.jsonl");
  REQUIRE(first_dead.size() == 41);
  for (const auto& d : first_dead) CHECK(d.at("source").as_string() == "tickets");
  CHECK(read_jsonl(dir / "out.jsonl").empty());

  // The API is back: replay the dead letters.
  MockServer healthy;
  auto r = run_flowbatch({"replay", "failed.jsonl", "g.toml", "--set", "providers.p.base_url=" + healthy.base_url()},
                         dir.path());
  CHECK_MESSAGE(r.exit_code == 3, r.err);  // the broken line is still broken
  CHECK(r.err.find("replaying failed.jsonl") != std::string::npos);

  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(out.size() == 40);
  const auto ids = count_ids(out);
  for (int i = 1; i <= 40; ++i) CHECK(ids.at(fmt::format("t{}", i)) == 1);
  const auto dead = read_jsonl(dir / "failed.jsonl");  // a fresh file: only what failed again
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].at("error").at("class").as_string() == "invalid_input");
  CHECK(dead[0].at("line").as_int64() == 41);  // its original line, not its line in the replayed file
  CHECK(dead[0].at("raw").as_string() == "not json at all");

  // The replayed file was kept, moved aside.
  int kept = 0;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind("failed.replayed-", 0) == 0) ++kept;
  CHECK(kept == 1);
}

TEST_CASE("replay of a file that does not exist is a clear error, and touches nothing") {
  TempDir dir;
  dir.write("in.jsonl", "{\"id\": \"a\", \"text\": \"x\"}\n");
  dir.write("g.toml", graph("http://127.0.0.1:9/v1"));
  auto r = run_flowbatch({"replay", "nope.jsonl", "g.toml"}, dir.path());
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("nope.jsonl is not a file") != std::string::npos);
}

TEST_CASE(
    "replay killed at random moments and run again until done: every replayed id once, and a normal run after it "
    "works without --fresh") {
  constexpr int kItems = 1000;
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(kItems, "t"));
  {
    MockServer broken({"--error-rate", "1"});
    dir.write("g.toml", graph(broken.base_url()));
    REQUIRE(run_flowbatch({"g.toml"}, dir.path()).exit_code == 3);
  }
  REQUIRE(read_jsonl(dir / "failed.jsonl").size() == kItems);

  // Slow enough (about 3 s of requests) that most of the eight kills land mid-run.
  MockServer healthy({"--latency-ms", "50", "--error-rate", "0.05", "--seed", "8"});
  dir.write("g.toml", graph(healthy.base_url()));
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  const int kills = kill_at_random_moments({"replay", "failed.jsonl", "g.toml"}, dir.path(), 8, seed,
                                           std::chrono::milliseconds(100), std::chrono::milliseconds(700));
  CHECK(kills >= 4);
  auto last = run_flowbatch({"replay", "failed.jsonl", "g.toml"}, dir.path());
  CHECK_MESSAGE((last.exit_code == 0 || last.exit_code == 3), last.err);

  auto ids = count_ids(read_jsonl(dir / "out.jsonl"));
  for (const auto& [id, n] : count_ids(read_jsonl(dir / "failed.jsonl"))) ids[id] += n;
  CHECK(ids.size() == kItems);
  for (const auto& [id, n] : ids) CHECK_MESSAGE(n == 1, id, " is there ", n, " times");

  // The graph's state knows what the replay wrote: a normal run goes on from there.
  healthy.reset_stats();
  auto normal = run_flowbatch({"g.toml"}, dir.path());
  CHECK_MESSAGE((normal.exit_code == 0 || normal.exit_code == 3), normal.err);
  CHECK(normal.err.find("shorter than its last committed point") == std::string::npos);
  CHECK(healthy.stats().at("requests").to_number<int>() == 0);  // all of it was done
}

TEST_CASE("a set-aside file replayed again sends nothing twice, and says so") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(30, "t"));
  {
    MockServer broken({"--error-rate", "1"});
    dir.write("g.toml", graph(broken.base_url()));
    REQUIRE(run_flowbatch({"g.toml"}, dir.path()).exit_code == 3);
  }
  MockServer healthy;
  dir.write("g.toml", graph(healthy.base_url()));
  REQUIRE(run_flowbatch({"replay", "failed.jsonl", "g.toml"}, dir.path()).exit_code == 0);
  CHECK(healthy.stats().at("requests").to_number<int>() == 30);
  fs::path aside;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind("failed.replayed-", 0) == 0) aside = e.path();
  REQUIRE(!aside.empty());

  auto again = run_flowbatch({"replay", aside.filename().string(), "g.toml"}, dir.path());
  CHECK_MESSAGE(again.exit_code == 0, again.err);
  CHECK(again.err.find("skipped 30 records an earlier replay already sent through the graph") != std::string::npos);
  CHECK(healthy.stats().at("requests").to_number<int>() == 30);  // nothing sent again
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")).size() == 30);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 30);
}

TEST_CASE("a normal run while a replay is unfinished is refused, pointing at the replay command") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(300, "t"));
  {
    MockServer broken({"--error-rate", "1"});
    dir.write("g.toml", graph(broken.base_url()));
    REQUIRE(run_flowbatch({"g.toml"}, dir.path()).exit_code == 3);
  }
  MockServer slow({"--latency-ms", "200"});
  dir.write("g.toml", graph(slow.base_url()));
  const int kills = kill_at_random_moments({"replay", "failed.jsonl", "g.toml"}, dir.path(), 1, 1,
                                           std::chrono::milliseconds(500), std::chrono::milliseconds(500));
  REQUIRE(kills == 1);
  auto normal = run_flowbatch({"g.toml"}, dir.path());
  CHECK(normal.exit_code == 75);
  CHECK(normal.err.find("a replay of") != std::string::npos);
  CHECK(normal.err.find("flowbatch replay") != std::string::npos);
  auto finish = run_flowbatch({"replay", "failed.jsonl", "g.toml"}, dir.path());
  CHECK_MESSAGE(finish.exit_code == 0, finish.err);
  CHECK(finish.err.find("finishing the replay of failed.jsonl") != std::string::npos);
  CHECK(count_ids(read_jsonl(dir / "out.jsonl")).size() == 300);
  CHECK(run_flowbatch({"g.toml"}, dir.path()).exit_code == 0);
}

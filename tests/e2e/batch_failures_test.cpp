// Calls in batch mode when the provider's batch API fails as a whole, against flowbatch-mock over
// real HTTP: what stops an online run (a server never reached, credentials refused) stops a batch
// run the same way, resumably, with no item dead-lettered; a provider that goes away after it was
// reached is retried ever more slowly, never once per collect period.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <boost/json/parse.hpp>

#include <csignal>
#include <fstream>
#include <thread>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"

using namespace flowbatch;
using namespace flowbatch::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kBatchCall = "mode = \"batch\"\npoll_interval_ms = 100\nbatch_collect_ms = 50";

/// Nothing in the dead letter: no item was really tried.
void check_nothing_dead(const TempDir& dir) {
  if (std::filesystem::exists(dir / "dead.jsonl")) CHECK(read_file(dir / "dead.jsonl").empty());
}

}  // namespace

TEST_CASE("batch mode with the provider unreachable from the start: the run stops resumably at once") {
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(50));
  ChatGraph g;
  g.base_url = "http://127.0.0.1:9";  // nobody listens: the first upload fails to connect
  g.call = kBatchCall;
  dir.write("g.toml", g.toml());
  // Bounded: a run that keeps trying (as it did) is ended by `timeout` and fails the test.
  const auto run =
      run_process({"timeout", "60", FLOWBATCH_BINARY, "run", "g.toml", "--summary-json", "s.json"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 75, run.err);
  CHECK(run.err.find("cannot reach the server") != std::string::npos);
  CHECK(run.err.find("check base_url") != std::string::npos);
  check_nothing_dead(dir);
  CHECK(boost::json::parse(read_file(dir / "s.json")).at("batch").at("jobs").to_number<int>() <= 1);
}

TEST_CASE("batch mode with a key the provider refuses: the run stops resumably, and with the right key ends") {
  MockServer mock({"--batch-seconds", "1", "--api-key", "sk-right-key-000111"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(40));
  ChatGraph g;
  g.base_url = mock.base_url();
  g.call = kBatchCall;
  std::string graph = g.toml();
  const std::string no_key = "api_key_env = \"\"";
  REQUIRE(graph.find(no_key) != std::string::npos);
  graph.replace(graph.find(no_key), no_key.size(), "api_key_env = \"FB_BATCH_TEST_KEY\"");
  dir.write("g.toml", graph);
  {
    ScopedEnv key("FB_BATCH_TEST_KEY", "sk-wrong-key-999888");
    const auto refused = run_flowbatch({"run", "g.toml"}, dir.path());
    CHECK_MESSAGE(refused.exit_code == 75, refused.err);
    CHECK(refused.err.find("refused the request's credentials") != std::string::npos);
    CHECK(refused.err.find("sk-wrong-key-999888") == std::string::npos);  // never the key itself
    check_nothing_dead(dir);
  }
  ScopedEnv key("FB_BATCH_TEST_KEY", "sk-right-key-000111");
  const auto finished = run_flowbatch({"run", "g.toml"}, dir.path());
  CHECK_MESSAGE(finished.exit_code == 0, finished.err);
  const auto ids = count_ids(read_jsonl(dir / "out.jsonl"));
  CHECK(ids.size() == 40);
  for (const auto& [id, n] : ids) CHECK_MESSAGE(n == 1, id);
  check_nothing_dead(dir);
}

TEST_CASE("batch mode with the provider gone after it was reached: new jobs come ever more slowly, Ctrl-C stops") {
  auto mock = std::make_unique<MockServer>(std::vector<std::string>{"--batch-seconds", "60"});
  TempDir dir;
  dir.write("in.jsonl", make_jsonl(20));
  ChatGraph g;
  g.base_url = mock->base_url();
  g.call = kBatchCall;
  dir.write("g.toml", g.toml());
  const pid_t pid =
      start_flowbatch({"run", "g.toml", "--summary-json", "s.json", "--set", "sources.in.follow=true"}, dir.path());
  int before = 0;
  REQUIRE(eventually(
      [&] {
        before = mock->stats().at("batch").at("batches").to_number<int>();
        return before >= 1;
      },
      10s));
  std::this_thread::sleep_for(300ms);  // the first job's lines are all in it
  before = mock->stats().at("batch").at("batches").to_number<int>();
  mock.reset();  // the provider goes away
  {
    std::ofstream more(dir / "in.jsonl", std::ios::app | std::ios::binary);
    more << make_jsonl(20, "j");
  }
  std::this_thread::sleep_for(5s);
  ::kill(pid, SIGINT);
  CHECK(wait_exit(pid) == 130);
  const auto jobs = boost::json::parse(read_file(dir / "s.json")).at("batch").at("jobs").to_number<int>();
  MESSAGE("jobs created before the provider went away: ", before, ", jobs in all: ", jobs);
  CHECK(jobs - before >= 2);  // it tried again: the provider had been reached, so it may come back
  CHECK(jobs - before <= 4);  // after 2 s, then 4 s more: not a new job every collect period
  check_nothing_dead(dir);
}

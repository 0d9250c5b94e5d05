// Several flowbatch workers against one rate-limited flowbatch-mock, each configured with the
// server's whole limit and sharing it (shared_limit): the server refuses next to nothing, and
// every entry's result is in the hash exactly once — also when one worker is killed mid-run.
#include <signal.h>
#include <sys/wait.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <set>

#include "tests/support/fixtures.h"
#include "tests/support/mock_server.h"
#include "tests/support/redis.h"
#include "tests/support/stream_worker_graph.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

constexpr int kJobs = 400;
constexpr int kRequestsPerMinute = 3000;  // 250 in any 5 s at the server

/// The provider of every worker: the server's whole limit, shared through `shared_limit`.
std::string shared_provider_keys(const MockServer& server, const std::string& shared_limit) {
  return fmt::format(R"(type = "openai"
base_url = "{}"
api_key_env = ""
requests_per_minute = {}
max_concurrency = 8
shared_limit = "{}"
shared_limit_lease_ms = 1000)",
                     server.base_url(), kRequestsPerMinute, shared_limit);
}

std::vector<pid_t> start_workers(const TempDir& dir, int count) {
  std::vector<pid_t> workers;
  for (int w = 1; w <= count; ++w)
    workers.push_back(start_flowbatch({"run", "graph.toml", "--set", fmt::format("pipeline.state=w{}.db", w), "--set",
                                       fmt::format("dead_letters.dead.path=dead{}.jsonl", w)},
                                      dir.path()));
  return workers;
}

int count_429(const boost::json::object& stats) {
  const auto& by = stats.at("by_status").as_object();
  return by.contains("429") ? by.at("429").to_number<int>() : 0;
}

/// Runs `count` workers sharing `shared_limit` over kJobs entries (killing the first once a
/// quarter is done, when `kill_one`), then checks the hash and the server's 429s.
void run_workers(RedisProcess& redis, const TempDir& dir, const std::string& shared_limit, int count, bool kill_one) {
  MockServer server(
      {"--rpm", std::to_string(kRequestsPerMinute), "--rolling-window-seconds", "5", "--latency-ms", "20"});
  for (int i = 1; i <= kJobs; ++i)
    redis.command({"XADD", "jobs", "*", "id", fmt::format("i{}", i), "text", fmt::format("question {}", i)});
  dir.write("graph.toml", stream_worker_graph(redis.url(), shared_provider_keys(server, shared_limit)));
  std::vector<pid_t> workers = start_workers(dir, count);
  const auto results = [&] { return redis.command({"HLEN", "results"}).integer(); };
  if (kill_one) {
    REQUIRE(eventually([&] { return results() >= kJobs / 4; }, std::chrono::seconds(60)));
    ::kill(workers[0], SIGKILL);
    CHECK(wait_exit(workers[0]) == 128 + SIGKILL);
    workers.erase(workers.begin());
  }
  CHECK(eventually([&] { return results() == kJobs; }, std::chrono::seconds(120)));
  for (pid_t worker : workers) {
    ::kill(worker, SIGINT);  // a followed stream ends by a drain
    CHECK(wait_exit(worker) != 128 + SIGKILL);
  }
  const RedisReply keys = redis.command({"HKEYS", "results"});
  std::set<std::string> ids;
  for (std::size_t i = 0; i < keys.size(); ++i) ids.insert(keys.at(i).text());
  CHECK(ids.size() == kJobs);
  CHECK(ids.count("i1") == 1);
  CHECK(ids.count(fmt::format("i{}", kJobs)) == 1);
  const auto stats = server.stats();
  const int requests = stats.at("requests").to_number<int>();
  CHECK(requests >= kJobs);
  // Each worker alone would go at the whole limit: without sharing, most of the excess is refused.
  CHECK_MESSAGE(count_429(stats) * 100 <= requests * 2, count_429(stats), " refused of ", requests);
}

}  // namespace

TEST_CASE("3 workers sharing the server's limit through redis, one killed: few 429s, every id once") {
  REQUIRE_REDIS_OR_SKIP();
  TempDir dir;
  RedisProcess redis(dir);
  run_workers(redis, dir, redis.url(), 3, true);
}

TEST_CASE("2 workers sharing the server's limit on this machine (local:NAME): few 429s, every id once") {
  REQUIRE_REDIS_OR_SKIP();  // the stream the workers share
  TempDir dir;
  ScopedEnv runtime("XDG_RUNTIME_DIR", dir.path().string());
  RedisProcess redis(dir);
  run_workers(redis, dir, "local:e2e-test", 2, false);
}

// Tokens/min shared: each worker told the server's whole tokens/min, both sharing it on this
// machine. The server counts every 5 s window and refuses what goes over, so few 429s is the
// aggregate kept within the limit (a slow machine only makes the workers slower, never refused).
// Sharing also shows in the time: the workers together need the whole job's tokens at the one
// limit, about twice what each would need alone.
TEST_CASE("2 workers sharing a tokens/min limit (local:NAME): the aggregate stays within it, every id once") {
  constexpr int kItems = 400;              // a worker's; 10 tokens each (8 characters, max_tokens 8)
  constexpr int kTokensPerMinute = 24000;  // 2,000 in any 5 s at the server
  TempDir shared;
  ScopedEnv runtime("XDG_RUNTIME_DIR", shared.path().string());
  MockServer server({"--tpm", std::to_string(kTokensPerMinute), "--rolling-window-seconds", "5", "--latency-ms", "5"});
  std::vector<TempDir> dirs(2);
  for (std::size_t w = 0; w < dirs.size(); ++w) {
    std::string items;
    for (int i = 1; i <= kItems; ++i)
      items += fmt::format("{{\"id\": \"w{}-{}\", \"text\": \"ask {:04}\"}}\n", w, i, i);
    dirs[w].write("in.jsonl", items);
    dirs[w].write("g.toml",
                  openai_chat_graph(server.base_url(),
                                    fmt::format("tokens_per_minute = {}\nmax_concurrency = 16\nshared_limit = "
                                                "\"local:e2e-tokens\"\nshared_limit_lease_ms = 1000",
                                                kTokensPerMinute),
                                    "max_attempts = 10"));
  }
  const auto started = std::chrono::steady_clock::now();
  std::vector<pid_t> workers;
  for (const TempDir& dir : dirs)
    workers.push_back(start_flowbatch({"g.toml", "--set", "calls.c.max_tokens=8"}, dir.path()));
  for (pid_t worker : workers) CHECK(wait_exit(worker) == 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  for (const TempDir& dir : dirs) {
    const auto ids = count_ids(read_jsonl(dir / "out.jsonl"));
    CHECK(ids.size() == kItems);
    for (const auto& [id, n] : ids) CHECK_MESSAGE(n == 1, id);
  }
  const auto stats = server.stats();
  const int requests = stats.at("requests").to_number<int>();
  CHECK(requests >= 2 * kItems);
  CHECK_MESSAGE(count_429(stats) * 100 <= requests * 2, count_429(stats), " refused of ", requests);
  // 8,000 tokens at 24,000 a minute: 20 s, less what a first window lets through at once (2,000
  // tokens, 5 s); 10% spared for the limiter's rounding. Alone, each worker would be done in 10 s.
  const double least = (2.0 * kItems * 10 - kTokensPerMinute / 12.0) * 60 / kTokensPerMinute * 0.9;
  CHECK_MESSAGE(seconds >= least, seconds, " s, expected at least ", least);
}

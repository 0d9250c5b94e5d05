// Several flowbatch workers sharing one queue, one of them killed with SIGKILL and not restarted:
// every entry's result exactly once in the results, every entry acknowledged.
#include <signal.h>
#include <sys/wait.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <set>

#include "tests/support/fixtures.h"
#include "tests/support/redis.h"
#include "tests/support/stream_worker_graph.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

constexpr int kEntries = 2000;

}  // namespace

TEST_CASE("redis: 3 workers share a stream of 2,000 entries, one is killed: every id once, every entry acknowledged") {
  REQUIRE_REDIS_OR_SKIP();
  TempDir dir;
  RedisProcess redis(dir);
  for (int i = 1; i <= kEntries; ++i) redis.command({"XADD", "jobs", "*", "id", fmt::format("i{}", i), "text", "x"});
  dir.write("graph.toml", stream_worker_graph(redis.url(), "type = \"mock\"\nlatency_ms = 100"));
  std::vector<pid_t> workers;
  for (int w = 1; w <= 3; ++w)
    workers.push_back(start_flowbatch({"run", "graph.toml", "--set", fmt::format("pipeline.state=w{}.db", w), "--set",
                                       fmt::format("dead_letters.dead.path=dead{}.jsonl", w)},
                                      dir.path()));
  const auto results = [&] { return redis.command({"HLEN", "results"}).integer(); };
  REQUIRE(eventually([&] { return results() >= 300; }, std::chrono::seconds(60)));
  ::kill(workers[0], SIGKILL);  // mid-run, with entries read and not yet done
  CHECK(wait_exit(workers[0]) == 128 + SIGKILL);
  CHECK(results() < kEntries);

  // The survivors take over what it held once it has been idle for claim_idle_ms.
  const auto pending = [&] { return redis.command({"XPENDING", "jobs", "flowbatch"}).at(0).integer(); };
  CHECK(eventually([&] { return results() == kEntries && pending() == 0; }, std::chrono::seconds(90)));
  for (std::size_t w = 1; w < workers.size(); ++w) {
    ::kill(workers[w], SIGINT);  // a followed stream ends by a drain
    CHECK(wait_exit(workers[w]) != 128 + SIGKILL);
  }

  const RedisReply keys = redis.command({"HKEYS", "results"});
  std::set<std::string> ids;
  for (std::size_t i = 0; i < keys.size(); ++i) ids.insert(keys.at(i).text());
  CHECK(ids.size() == kEntries);
  CHECK(ids.count("i1") == 1);
  CHECK(ids.count(fmt::format("i{}", kEntries)) == 1);
  CHECK(pending() == 0);
  for (int w = 2; w <= 3; ++w)
    if (std::filesystem::exists(dir / fmt::format("dead{}.jsonl", w)))
      CHECK(read_jsonl(dir / fmt::format("dead{}.jsonl", w)).empty());
}

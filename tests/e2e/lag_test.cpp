// A followed queue's lag as a user watches it: the built program reading a Redis stream or a
// PostgreSQL queue table far slower than it fills, its GET /metrics and /status read with
// `flowbatch ctl` while it runs.
#include <signal.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <charconv>

#include "tests/support/fixtures.h"
#include "tests/support/pg_worker_graph.h"
#include "tests/support/postgres.h"
#include "tests/support/redis.h"
#include "tests/support/stream_worker_graph.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

const std::vector<std::string> kLagToken = {"--set", "pipeline.listen_token_env=LAG_E2E_TOKEN"};

/// A worker of graph.toml in `dir`, answering `flowbatch ctl` on loopback.
pid_t start_watched_worker(const TempDir& dir) {
  const pid_t pid =
      start_flowbatch({"run", "graph.toml", "--listen", "127.0.0.1:0", kLagToken[0], kLagToken[1]}, dir.path());
  REQUIRE(eventually([&] { return std::filesystem::exists(dir / ".flowbatch/graph.db.listen"); },
                     std::chrono::seconds(20)));
  return pid;
}

std::string ctl(const TempDir& dir, const std::string& what) {
  return run_flowbatch({"ctl", "graph.toml", what, kLagToken[0], kLagToken[1]}, dir.path()).out;
}

/// The value of the sample `name{pipeline="graph",labels}` in the exposition; nothing when absent.
std::optional<std::uint64_t> sample(const std::string& metrics, const std::string& name, const std::string& labels) {
  const std::string start = fmt::format("{}{{pipeline=\"graph\",{}}} ", name, labels);
  const auto at = metrics.find(start);
  if (at == std::string::npos) return std::nullopt;
  std::uint64_t value = 0;
  const char* first = metrics.data() + at + start.size();
  if (std::from_chars(first, metrics.data() + metrics.size(), value).ec != std::errc()) return std::nullopt;
  return value;
}

struct Backlog {
  std::uint64_t lag = 0, unacknowledged = 0;
};

/// The lag and unacknowledged count the worker reports for source "in" in `unit`, once both are there.
std::optional<Backlog> reported(const TempDir& dir, const std::string& unit) {
  const std::string metrics = ctl(dir, "metrics");
  const std::string labels = fmt::format("source=\"in\",unit=\"{}\"", unit);
  const auto lag = sample(metrics, "flowbatch_source_lag", labels);
  const auto unacknowledged = sample(metrics, "flowbatch_source_unacknowledged", labels);
  if (!lag || !unacknowledged) return std::nullopt;
  return Backlog{*lag, *unacknowledged};
}

/// Waits until the worker reports `total` entries or rows behind it, some read and not yet done
/// (its calls take a minute: none is acknowledged while the test runs).
Backlog wait_for_backlog(const TempDir& dir, const std::string& unit, std::uint64_t total) {
  Backlog last;
  const bool seen = eventually(
      [&] {
        const auto now = reported(dir, unit);
        if (now) last = *now;
        return now && now->lag + now->unacknowledged == total && now->unacknowledged > 0;
      },
      std::chrono::seconds(30));
  CHECK_MESSAGE(seen, fmt::format("last reported: lag {}, unacknowledged {}", last.lag, last.unacknowledged));
  return last;
}

}  // namespace

TEST_CASE("lag: a followed Redis stream reports its undelivered and pending entries, and keeps them current") {
  REQUIRE_REDIS_OR_SKIP();
  ScopedEnv token("LAG_E2E_TOKEN", "lag-e2e-token-0123456789abcdef");
  TempDir dir;
  RedisProcess redis(dir);
  for (int i = 1; i <= 100; ++i) redis.command({"XADD", "jobs", "*", "id", fmt::format("i{}", i), "text", "x"});
  dir.write("graph.toml", stream_worker_graph(redis.url(), "type = \"mock\"\nlatency_ms = 60000"));
  const pid_t worker = start_watched_worker(dir);

  const Backlog first = wait_for_backlog(dir, "entries", 100);
  CHECK(first.lag >= 50);  // max_in_flight = 16 bounds what it holds
  CHECK(ctl(dir, "status").find(R"("lag":[{"source":"in","unit":"entries","lag":)") != std::string::npos);
  for (int i = 101; i <= 150; ++i) redis.command({"XADD", "jobs", "*", "id", fmt::format("i{}", i), "text", "x"});
  wait_for_backlog(dir, "entries", 150);

  ::kill(worker, SIGKILL);
  wait_exit(worker);
}

TEST_CASE("lag: a followed PostgreSQL queue reports its unclaimed and claimed rows") {
  REQUIRE_POSTGRES_OR_SKIP();
  ScopedEnv token("LAG_E2E_TOKEN", "lag-e2e-token-0123456789abcdef");
  PostgresProcess pg;
  pg.make_queue("jobs", 100);
  TempDir dir;
  dir.write("graph.toml", pg_worker_graph(pg.url(), "", /*latency_ms=*/60000));
  const pid_t worker = start_watched_worker(dir);

  const Backlog first = wait_for_backlog(dir, "rows", 100);
  CHECK(first.lag >= 50);
  // Once its claims are done (the in-flight limit stops them), it reports what the table says.
  const auto claimed = [&] { return std::stoull(pg.value("SELECT count(*) FROM jobs WHERE status = 'claimed'")); };
  CHECK(eventually(
      [&] {
        const auto now = reported(dir, "rows");
        return now && now->unacknowledged == claimed() && now->lag == 100 - claimed();
      },
      std::chrono::seconds(10)));

  ::kill(worker, SIGKILL);
  wait_exit(worker);
}

// Several flowbatch workers sharing one PostgreSQL queue table, with poisoned rows, and one worker
// killed with SIGKILL and not restarted: every row's id exactly once across the result table and
// the dead letters, every row marked done.
#include <signal.h>
#include <sys/wait.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <random>
#include <set>
#include <thread>

#include "tests/support/fixtures.h"
#include "tests/support/pg_worker_graph.h"
#include "tests/support/postgres.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// `n` workers of graph.toml in `dir`, each with a state of its own and `per_worker` settings
/// ("{}" is the worker's number).
std::vector<pid_t> start_pg_workers(int n, const TempDir& dir, const std::vector<std::string>& per_worker) {
  std::vector<pid_t> workers;
  for (int w = 1; w <= n; ++w) {
    std::vector<std::string> args = {"run", "graph.toml", "--set", fmt::format("pipeline.state=w{}.db", w)};
    for (const std::string& setting : per_worker)
      args.insert(args.end(), {"--set", fmt::format(fmt::runtime(setting), w)});
    workers.push_back(start_flowbatch(args, dir.path()));
  }
  return workers;
}

std::vector<std::string> pg_column(PostgresProcess& pg, const std::string& sql) {
  const PgResult r = pg.exec(sql);
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
  return out;
}

/// The ids in a dead-letter file: an item's id, or a row's that never became an item (its raw record).
std::vector<std::string> pg_dead_ids(const std::filesystem::path& file) {
  std::vector<std::string> ids;
  if (!std::filesystem::exists(file)) return ids;
  for (const auto& record : read_jsonl(file)) {
    if (record.at("id").is_string()) ids.emplace_back(record.at("id").as_string());
    else ids.emplace_back(boost::json::parse(record.at("raw").as_string()).at("id").as_string());
  }
  return ids;
}

/// Every id 1..n exactly once across `lists`.
void check_each_id_once(const std::vector<std::vector<std::string>>& lists, int n) {
  std::map<std::string, int> seen;
  for (const auto& list : lists)
    for (const auto& id : list) ++seen[id];
  CHECK(seen.size() == static_cast<std::size_t>(n));
  for (const auto& [id, count] : seen) CHECK_MESSAGE(count == 1, id);
  CHECK(seen.count("i1") == 1);
  CHECK(seen.count(fmt::format("i{}", n)) == 1);
}

}  // namespace

TEST_CASE("postgres: 1,200 rows with poisoned ones: every id once in the result table or the dead letter") {
  REQUIRE_POSTGRES_OR_SKIP();
  constexpr int kRows = 1200;
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", kRows);
  // Poison: prompts the provider refuses, and rows a crashing worker already took five times.
  pg.exec("UPDATE jobs SET text = repeat('x', 300) WHERE substr(id, 2)::int % 40 = 0");
  pg.exec(
      "UPDATE jobs SET status = 'claimed', claimed_at = now() - interval '1 hour', deliveries = 5 "
      "WHERE substr(id, 2)::int % 100 = 7");
  dir.write("graph.toml", pg_worker_graph(pg.url(), "until_empty = true"));
  const ProcessResult run = run_flowbatch({"run", "graph.toml"}, dir.path());
  CHECK_MESSAGE(run.exit_code == 3, run.err);  // done, with dead letters

  const auto dead = pg_dead_ids(dir / "dead.jsonl");
  CHECK(dead.size() == kRows / 40 + kRows / 100);
  const std::string reasons = read_file(dir / "dead.jsonl");
  CHECK(reasons.find("was delivered 6 times (max_deliveries = 5)") != std::string::npos);
  check_each_id_once({pg_column(pg, "SELECT id FROM results"), dead}, kRows);
  CHECK(pg.value("SELECT count(*) FROM jobs WHERE status <> 'done'") == "0");
  CHECK(pg.value("SELECT result->>'text' FROM results WHERE id = 'i1'") == "item 1");
}

TEST_CASE("postgres: two workers share one table: each does a part, every id once") {
  REQUIRE_POSTGRES_OR_SKIP();
  constexpr int kRows = 1000;
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", kRows);
  dir.write("graph.toml", pg_worker_graph(pg.url(), "until_empty = true"));
  // Each writes its own result table, to show who did what; together they must hold every id once.
  const auto workers = start_pg_workers(2, dir, {"sinks.out.table=results_{}", "dead_letters.dead.path=dead{}.jsonl"});
  for (pid_t w : workers) CHECK(wait_exit(w) == 0);
  const auto first = pg_column(pg, "SELECT id FROM results_1");
  const auto second = pg_column(pg, "SELECT id FROM results_2");
  CHECK(first.size() > 100);
  CHECK(second.size() > 100);
  check_each_id_once({first, second}, kRows);
  CHECK(pg.value("SELECT count(*) FROM jobs WHERE status <> 'done' OR deliveries <> 1") == "0");
}

TEST_CASE("postgres: 3 workers share 2,000 rows, one is killed: its rows come back after the lease, every id once") {
  REQUIRE_POSTGRES_OR_SKIP();
  constexpr int kRows = 2000;
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", kRows);
  dir.write("graph.toml", pg_worker_graph(pg.url(), ""));  // followed: runs until drained
  const auto workers = start_pg_workers(3, dir, {"dead_letters.dead.path=dead{}.jsonl"});
  REQUIRE(eventually([&] { return pg.value("SELECT to_regclass('results') IS NOT NULL") == "t"; },
                     std::chrono::seconds(30)));
  const auto results = [&] { return std::stoi(pg.value("SELECT count(*) FROM results")); };
  REQUIRE(eventually([&] { return results() >= 300; }, std::chrono::seconds(60)));
  ::kill(workers[0], SIGKILL);  // mid-run, with rows claimed and not yet done
  CHECK(wait_exit(workers[0]) == 128 + SIGKILL);
  CHECK(results() < kRows);

  const auto left = [&] { return pg.value("SELECT count(*) FROM jobs WHERE status <> 'done'"); };
  CHECK(eventually([&] { return results() == kRows && left() == "0"; }, std::chrono::seconds(90)));
  for (std::size_t w = 1; w < workers.size(); ++w) {
    ::kill(workers[w], SIGINT);  // a followed queue ends by a drain
    CHECK(wait_exit(workers[w]) != 128 + SIGKILL);
  }
  check_each_id_once({pg_column(pg, "SELECT id FROM results")}, kRows);
  CHECK(std::stoi(pg.value("SELECT count(*) FROM jobs WHERE deliveries = 2")) > 0);  // taken back after the lease
  for (int w = 2; w <= 3; ++w) CHECK(pg_dead_ids(dir / fmt::format("dead{}.jsonl", w)).empty());
}

TEST_CASE("postgres: queue and results in one database, killed at random moments: a row is done iff its result is") {
  REQUIRE_POSTGRES_OR_SKIP();
  constexpr int kRows = 1500;
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", kRows);
  dir.write("graph.toml", pg_worker_graph(pg.url(), "until_empty = true"));
  // The sink's commit marks the rows it finishes done in its own transaction: never one without the other.
  const auto mismatched = [&] {
    return pg.value(
        "SELECT count(*) FROM jobs j WHERE (j.status = 'done') <> EXISTS (SELECT 1 FROM results r WHERE r.id = j.id)");
  };
  std::mt19937 random(15);
  std::uniform_int_distribution<int> delay_ms(300, 1500);
  int killed = 0;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const pid_t run = start_flowbatch({"run", "graph.toml"}, dir.path());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
    ::kill(run, SIGKILL);
    if (wait_exit(run) == 128 + SIGKILL) ++killed;
    if (pg.value("SELECT to_regclass('results') IS NOT NULL") == "t") CHECK(mismatched() == "0");
  }
  CHECK(killed > 0);
  const ProcessResult last = run_flowbatch({"run", "graph.toml"}, dir.path());
  REQUIRE_MESSAGE(last.exit_code == 0, last.err);
  check_each_id_once({pg_column(pg, "SELECT id FROM results")}, kRows);
  CHECK(pg.value("SELECT count(*) FROM jobs WHERE status <> 'done'") == "0");
  CHECK(mismatched() == "0");
}

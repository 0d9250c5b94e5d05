// The PostgreSQL queue source and sink, against a real PostgreSQL server on loopback.
#include <signal.h>
#include <sys/wait.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/support/fixtures.h"
#include "tests/support/postgres.h"
#include "tests/support/queue_graph.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

/// postgres_queue source "in" (until_empty) on table "jobs" → sink `sink_toml`; its invalid port → bad.jsonl.
std::string pg_queue_graph(const std::string& url, const std::string& source_keys, const std::string& sink_toml) {
  return queue_graph(fmt::format(R"(type = "postgres_queue"
connection = "{}"
table = "jobs"
{})",
                                 url, source_keys),
                     sink_toml);
}

}  // namespace

TEST_CASE("postgres_queue: every pending row becomes an item with its columns, and is marked done") {
  REQUIRE_POSTGRES_OR_SKIP();
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", 25);
  const auto run = run_text(pg_queue_graph(pg.url(), "", "path = \"out.jsonl\""), dir);
  REQUIRE_MESSAGE(run.report.exit_code == 0, run.console);
  const auto out = read_jsonl(dir / "out.jsonl");
  CHECK(out.size() == 25);
  for (const auto& [id, n] : count_ids(out)) CHECK_MESSAGE(n == 1, id);
  CHECK(out.front().at("text").as_string().starts_with("item "));
  CHECK(!out.front().contains("status"));  // the queue's bookkeeping is not the item's
  CHECK(!out.front().contains("deliveries"));
  CHECK(pg.value("SELECT count(*) FROM jobs WHERE status = 'done' AND deliveries = 1") == "25");
}

TEST_CASE(
    "postgres_queue: rows a dead worker claimed come back after the lease, and too many deliveries go to the dead "
    "letter") {
  REQUIRE_POSTGRES_OR_SKIP();
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", 6);
  // A worker that claimed four rows a minute ago and died.
  pg.exec(
      "UPDATE jobs SET status = 'claimed', claimed_at = now() - interval '1 minute', deliveries = 1 "
      "WHERE id IN ('i1', 'i2', 'i3', 'i4')");
  const auto run = run_text(pg_queue_graph(pg.url(), "lease_ms = 20\nmax_deliveries = 1", "path = \"out.jsonl\""), dir);
  REQUIRE_MESSAGE(run.report.exit_code == 3, run.console);
  CHECK(read_jsonl(dir / "out.jsonl").size() == 2);  // the two nobody had claimed
  const auto bad = read_jsonl(dir / "bad.jsonl");
  REQUIRE(bad.size() == 4);
  CHECK(boost::json::serialize(bad[0]).find("was delivered 2 times (max_deliveries = 1)") != std::string::npos);
  CHECK(pg.value("SELECT count(*) FROM jobs WHERE status = 'done'") == "6");  // dead letters are done too
}

TEST_CASE("postgres_queue: a live claim is left alone until its lease runs out") {
  REQUIRE_POSTGRES_OR_SKIP();
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", 3);
  pg.exec("UPDATE jobs SET status = 'claimed', claimed_at = now(), deliveries = 1 WHERE id = 'i1'");
  // Not until_empty: the run would wait for i1; given a lease of a minute it must not take it.
  const std::string graph = fmt::format(R"([sources.in]
type = "postgres_queue"
connection = "{}"
table = "jobs"
[sinks.out]
inputs = ["in"]
path = "out.jsonl"
flush_interval_ms = 50
)",
                                        pg.url());
  dir.write("graph.toml", graph);
  const pid_t worker = start_flowbatch({"run", "graph.toml"}, dir.path());
  CHECK(eventually([&] { return pg.value("SELECT count(*) FROM jobs WHERE status = 'done'") == "2"; },
                   std::chrono::seconds(20)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(pg.value("SELECT status FROM jobs WHERE id = 'i1'") == "claimed");
  ::kill(worker, SIGINT);
  ::waitpid(worker, nullptr, 0);
}

TEST_CASE(
    "postgres_queue: a JSON column's members become the item's fields, with the user's own claim and complete SQL") {
  REQUIRE_POSTGRES_OR_SKIP();
  TempDir dir;
  PostgresProcess pg;
  pg.exec(
      "CREATE TABLE inbox (n bigint PRIMARY KEY, body jsonb, taken boolean NOT NULL DEFAULT false, "
      "finished boolean NOT NULL DEFAULT false, tries integer NOT NULL DEFAULT 0)");
  pg.exec(
      R"(INSERT INTO inbox (n, body) VALUES (1, '{"text": "one"}'), (2, '{"text": "two"}'), (3, '"not an object"'))");
  const std::string source = R"toml(table = "inbox"
id_column = "n"
deliveries_column = "tries"
json_column = "body"
claim_sql = "UPDATE inbox SET taken = true, tries = tries + 1 WHERE n IN (SELECT n FROM inbox WHERE NOT taken LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING n, body, tries"
complete_sql = "UPDATE inbox SET finished = true WHERE n = ANY($1)"
)toml";
  std::string graph = pg_queue_graph(pg.url(), source, "path = \"out.jsonl\"");
  graph.replace(graph.find("table = \"jobs\"\n"), 15, "");
  const auto run = run_text(graph, dir);
  REQUIRE_MESSAGE(run.report.exit_code == 3, run.console);
  const auto out = read_jsonl(dir / "out.jsonl");
  REQUIRE(out.size() == 2);
  for (const auto& item : out) CHECK((item.at("text") == "one" || item.at("text") == "two"));
  const auto bad = read_jsonl(dir / "bad.jsonl");
  REQUIRE(bad.size() == 1);
  CHECK(boost::json::serialize(bad[0]).find("column \\\"body\\\" is not a JSON object") != std::string::npos);
  CHECK(pg.value("SELECT count(*) FROM inbox WHERE finished") == "3");
}

TEST_CASE("postgres sink: results upserted by id into a table it creates, so a second delivery overwrites") {
  REQUIRE_POSTGRES_OR_SKIP();
  TempDir dir;
  PostgresProcess pg;
  dir.write("in.jsonl", make_jsonl(30));
  const std::string graph = fmt::format(R"([sources.in]
path = "in.jsonl"
id_field = "id"
[sinks.out]
inputs = ["in"]
type = "postgres"
connection = "{}"
table = "public.results"
flush_every = 7
)",
                                        pg.url());
  REQUIRE(run_text(graph, dir).report.exit_code == 0);
  REQUIRE(run_text(graph, dir).report.exit_code == 0);  // --fresh: everything again
  CHECK(pg.value("SELECT count(*) FROM results") == "30");
  CHECK(pg.value("SELECT result->>'text' FROM results WHERE id = 'i7'") == "item 7");
}

TEST_CASE(
    "postgres: a connection string libpq cannot read, or bad names, are configuration errors that quote no password") {
  TempDir dir;
  const auto compiled = compile_text(R"([sources.in]
type = "postgres_queue"
connection = "host=db password='hunter2"
table = "jobs; DROP TABLE x"
max_deliveries = 0
[sinks.out]
inputs = ["in"]
type = "postgres"
connection = "postgresql://u:hunter2@db:5432/x"
table = "results"
status_column = "s"
)",
                                     dir);
  CHECK(!compiled.plan);
  const std::string errors = compiled.diagnostics.str();
  CHECK_MESSAGE(errors.find("graph.toml:3:14") != std::string::npos, errors);
  CHECK(errors.find("is not a PostgreSQL connection string") != std::string::npos);
  CHECK(errors.find("must be a plain table name") != std::string::npos);
  CHECK(errors.find("max_deliveries") != std::string::npos);
  CHECK(errors.find("status_column") != std::string::npos);  // not a key of the sink
  CHECK(errors.find("hunter2") == std::string::npos);
}

namespace {

/// postgres_queue "jobs" → postgres sink "results", both on `url`'s database.
std::string pg_queue_to_table_graph(const std::string& url) {
  return pg_queue_graph(
      url, "", fmt::format("type = \"postgres\"\nconnection = \"{}\"\ntable = \"results\"\nflush_every = 100", url));
}

/// Rows of "jobs" marked done whose result is missing, or stored while the row is not done.
std::string rows_done_without_result_or_the_reverse(PostgresProcess& pg) {
  return pg.value(
      "SELECT count(*) FROM jobs j WHERE (j.status = 'done') <> EXISTS (SELECT 1 FROM results r WHERE r.id = j.id)");
}

}  // namespace

TEST_CASE("postgres queue and sink in one database: results and done rows are committed together") {
  REQUIRE_POSTGRES_OR_SKIP();
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", 40);
  const auto run = run_text(pg_queue_to_table_graph(pg.url()), dir);
  REQUIRE_MESSAGE(run.report.exit_code == 0, run.console);
  CHECK(run.console.find("in one transaction") != std::string::npos);
  CHECK(pg.value("SELECT count(*) FROM results") == "40");
  CHECK(pg.value("SELECT count(*) FROM jobs WHERE status = 'done'") == "40");
  CHECK(rows_done_without_result_or_the_reverse(pg) == "0");
}

TEST_CASE("postgres queue and sink in one database: a failing upsert leaves the rows claimed, not done") {
  REQUIRE_POSTGRES_OR_SKIP();
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", 5);
  pg.exec(
      "CREATE TABLE results (id text PRIMARY KEY, result jsonb NOT NULL CHECK (result->>'text' <> 'item 3'), "
      "updated_at timestamptz NOT NULL DEFAULT now())");
  const auto run = run_text(pg_queue_to_table_graph(pg.url()), dir);
  CHECK_MESSAGE(run.report.exit_code != 0, run.console);
  CHECK_MESSAGE(run.report.fatal_error.find("violates check constraint") != std::string::npos, run.report.fatal_error);
  CHECK(pg.value("SELECT count(*) FROM results") == "0");
  CHECK(pg.value("SELECT count(*) FROM jobs WHERE status = 'claimed'") == "5");
}

TEST_CASE("postgres queue and sink in one database: rows that cannot be marked done leave no result behind") {
  REQUIRE_POSTGRES_OR_SKIP();
  TempDir dir;
  PostgresProcess pg;
  pg.make_queue("jobs", 5);
  pg.exec("ALTER TABLE jobs ADD CONSTRAINT never_done_i2 CHECK (NOT (id = 'i2' AND status = 'done'))");
  const auto run = run_text(pg_queue_to_table_graph(pg.url()), dir);
  CHECK_MESSAGE(run.report.exit_code != 0, run.console);
  CHECK(pg.value("SELECT to_regclass('results') IS NULL OR (SELECT count(*) = 0 FROM results)") == "t");
  CHECK(pg.value("SELECT count(*) FROM jobs WHERE status = 'done'") == "0");
}

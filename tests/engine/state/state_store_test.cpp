#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/state/state_store.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
const std::vector<std::string> kSources = {"tickets", "extra"};

RecordRuns runs(std::initializer_list<RecordKey> keys) {
  RecordRuns r;
  for (const auto& k : keys) r.add(k.source, k.line, k.hash);
  return r;
}

/// A commit of `items` new items at `position` that completes `completed`.
void commit(StateStore& s, const std::string& output, std::uint64_t position, const RecordRuns& completed,
            std::uint64_t items = 0, const std::vector<ItemKey>& partial = {}) {
  s.commit(output, StateStore::Commit{position, items, &completed, &partial}, kSources);
}
}  // namespace

TEST_CASE("a commit records a sink's position and its completed records, read back by a new run") {
  TempDir dir;
  const auto file = dir / "state/run.db";
  {
    StateStore s(file, "job");
    CHECK(!s.has_previous_run());
    CHECK(s.sink_position("results") == 0);
    // Out of order and with a gap (line 4 is not done): stored as runs of consecutive lines.
    // (RecordRuns keeps the order it is given: 3 | 1 2 | 5, then 1 for the other source.)
    commit(s, "results", 1234, runs({{0, 3, 30}, {0, 1, 10}, {0, 2, 20}, {0, 5, 50}, {1, 1, 99}}), 5);
    commit(s, "results", 2048, runs({{0, 6, 60}}), 1);
    commit(s, "failed", 77, RecordRuns{}, 0, {{0, 4, 40, 7}, {1, 2, 22, 9}});
  }
  StateStore again(file, "job");
  CHECK(again.has_previous_run());
  CHECK(again.sink_position("results") == 2048);
  CHECK(again.sink_position("failed") == 77);
  CHECK(again.sink_items("results") == 6);  // added up over its commits
  CHECK(again.partial_items("failed", kSources) == std::vector<ItemKey>{{0, 4, 40, 7}, {1, 2, 22, 9}});
  CHECK(again.partial_items("results", kSources).empty());
  again.clear_partial();
  CHECK(again.partial_items("failed", kSources).empty());
  const CompletedRecords tickets = again.completed("tickets");
  CHECK(tickets.size() == 5);
  using S = CompletedRecords::Status;
  CHECK(tickets.lookup(1, 10) == S::done);
  CHECK(tickets.lookup(3, 30) == S::done);
  CHECK(tickets.lookup(6, 60) == S::done);
  CHECK(tickets.lookup(4, 40) == S::unknown);
  CHECK(tickets.lookup(7, 70) == S::unknown);
  CHECK(tickets.lookup(2, 21) == S::changed);  // the line's text is not what was completed
  CHECK(again.completed("extra").lookup(1, 99) == S::done);
  CHECK(again.completed("nothing").size() == 0);
}

TEST_CASE("a state of another pipeline, or not a state at all, is refused with a way out") {
  TempDir dir;
  { StateStore s(dir / "a.db", "job"); }
  CHECK_THROWS_WITH_AS(StateStore(dir / "a.db", "other_job"), doctest::Contains("belongs to pipeline \"job\""),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(StateStore(dir / "a.db", "other_job"), doctest::Contains("--fresh"), std::runtime_error);
  const auto junk = dir.write("junk.db", std::string(4096, 'x'));
  CHECK_THROWS_WITH_AS(StateStore(junk, "job"), doctest::Contains("is not a flowbatch state, or is damaged"),
                       std::runtime_error);
}

TEST_CASE("a state that cannot be written where it is says what to fix, not --fresh (which would fail too)") {
  TempDir dir;
  dir.write("plain_file", "x");
  try {
    StateStore s(dir / "plain_file" / "state.db", "job");
    FAIL("a state under a regular file opened");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    CHECK(message.find("cannot keep the run's state in") != std::string::npos);
    CHECK(message.find("cannot create the folder") != std::string::npos);
    CHECK(message.find("pipeline.state") != std::string::npos);
    CHECK(message.find("--fresh") == std::string::npos);
  }
}

TEST_CASE("archive moves a state and its WAL aside, and a fresh store starts empty") {
  TempDir dir;
  const auto file = dir / "s.db";
  CHECK(!StateStore::archive(file));  // nothing to move
  {
    StateStore s(file, "job");
    commit(s, "out", 10, runs({{0, 1, 1}}));
  }
  const auto moved = StateStore::archive(file);
  REQUIRE(moved);
  CHECK(std::filesystem::exists(*moved));
  CHECK(!std::filesystem::exists(file));
  StateStore fresh(file, "job");
  CHECK(!fresh.has_previous_run());
  CHECK(fresh.sink_position("out") == 0);
  const StateSummary old = read_state_summary(*moved);
  CHECK(old.pipeline == "job");
  CHECK(old.sink_positions.at("out") == 10);
  CHECK(old.completed_per_source.at("tickets") == 1);
}

TEST_CASE("--fresh sets a killed run's state aside whole: its WAL is folded in, the archive stands alone") {
  TempDir dir;
  const auto file = dir / "s.db";
  // A run killed with SIGKILL: its last commits are only in the WAL, nothing was closed.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    StateStore s(file, "job");
    commit(s, "out", 4242, runs({{0, 1, 1}, {0, 2, 2}}), 2);
    ::_exit(0);  // no destructor, no checkpoint: as a kill -9 leaves it
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(std::filesystem::exists(file.string() + "-wal"));

  const auto moved = StateStore::archive(file);
  REQUIRE(moved);
  CHECK(!std::filesystem::exists(file));
  CHECK(!std::filesystem::exists(file.string() + "-wal"));
  CHECK(!std::filesystem::exists(moved->string() + "-wal"));  // one file, nothing beside it to lose
  const auto copy = dir / "copied-alone.db";
  std::filesystem::copy_file(*moved, copy);
  const StateSummary old = read_state_summary(copy);
  CHECK(old.sink_positions.at("out") == 4242);
  CHECK(old.sink_items.at("out") == 2);
  CHECK(old.completed_per_source.at("tickets") == 2);

  StateStore fresh(file, "job");  // a second --fresh in the same second keeps both archives
  fresh.set_status("x");
  const auto again = StateStore::archive(file);
  REQUIRE(again);
  CHECK(*again != *moved);
  CHECK(std::filesystem::exists(*moved));
}

TEST_CASE("batch jobs: recorded before they are created, updated as they go, read back by a new run and by status") {
  TempDir dir;
  const auto file = dir / "run.db";
  StateStore::BatchJob job;
  job.key = "fbjob-1";
  job.provider = "openai";
  job.node = "classify";
  job.status = "submitting";
  job.lines = 2;
  job.created_unix_ms = 1000;
  job.tokens = 2500;  // what it holds of the provider's queue, for a resumed run to count
  {
    StateStore s(file, "p");
    s.begin_batch_job(job, {{"fb-a", {"k1", "k2"}}, {"fb-b", {"k3"}}});
    StateStore::BatchJob lost = job;  // a job that never became a batch is not re-attached to
    lost.key = "fbjob-0";
    lost.status = "abandoned";
    s.begin_batch_job(lost, {{"fb-c", {"k4"}}});
    job.status = "running";
    job.batch_id = "batch_1";
    job.provider_status = "in_progress";
    job.succeeded = 1;
    s.update_batch_job(job);
  }
  StateStore again(file, "p");
  const auto jobs = again.batch_jobs("openai");
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].first.key == "fbjob-1");
  CHECK(jobs[0].first.batch_id == "batch_1");
  CHECK(jobs[0].first.succeeded == 1);
  CHECK(jobs[0].first.tokens == 2500);
  REQUIRE(jobs[0].second.size() == 2);
  CHECK(jobs[0].second[0].custom_id == "fb-a");
  CHECK(jobs[0].second[0].items == std::vector<std::string>{"k1", "k2"});  // packed: two items, one line
  CHECK(jobs[0].second[1].custom_id == "fb-b");
  CHECK(jobs[0].second[1].items == std::vector<std::string>{"k3"});
  CHECK(again.batch_jobs("anthropic").empty());
  const StateSummary summary = read_state_summary(file);
  REQUIRE(summary.batch_jobs.size() == 2);
  CHECK(summary.batch_jobs[1].provider_status == "in_progress");
}

TEST_CASE("batch jobs: a state from before item keys and tokens gains the columns and reads its lines with none") {
  TempDir dir;
  const auto file = dir / "run.db";
  { StateStore s(file, "p"); }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.string().c_str(), &db) == SQLITE_OK);
  const char* downgrade =
      "DROP TABLE batch_lines; CREATE TABLE batch_lines(job TEXT NOT NULL, custom_id TEXT NOT NULL);"
      "ALTER TABLE batch_jobs DROP COLUMN tokens;"
      "INSERT INTO batch_jobs(key, provider, node, status) VALUES ('fbjob-9', 'openai', 'classify', 'running');"
      "INSERT INTO batch_lines(job, custom_id) VALUES ('fbjob-9', 'fb-old')";
  REQUIRE(sqlite3_exec(db, downgrade, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  StateStore again(file, "p");
  const auto jobs = again.batch_jobs("openai");
  REQUIRE(jobs.size() == 1);
  REQUIRE(jobs[0].second.size() == 1);
  CHECK(jobs[0].second[0].custom_id == "fb-old");
  CHECK(jobs[0].second[0].items.empty());
  CHECK(jobs[0].first.tokens == 0);
}

TEST_CASE("a followed source's files are kept in order, and forgotten ones leave, for that source only") {
  TempDir dir;
  const auto file = dir / "run.db";
  const FollowedFile a{1, 10, 0}, b{1, 11, 5}, b_again{1, 11, 9}, c{1, 12, 20};
  {
    StateStore s(file, "job");
    s.record_followed_files("in", {a, b});
    s.record_followed_files("in", {b_again, c});
    s.record_followed_files("other", {a});
    s.forget_followed_files("in", {a, b});
  }
  StateStore s(file, "job");
  CHECK(s.followed_files("in") == std::vector<FollowedFile>{b_again, c});
  CHECK(s.followed_files("other") == std::vector<FollowedFile>{a});
}

// The state's record of provider batch jobs (engine/runtime/batch_jobs.h): one row a job, one a
// line (its custom id and its items' keys), so a resumed run re-attaches each request to the job
// that holds it.
#include <fmt/format.h>

#include "engine/core/text.h"
#include "engine/state/sqlite.h"
#include "engine/state/state_store.h"

namespace flowbatch {
namespace {

bool batch_table_has_column(sqlite3* db, const char* table, std::string_view column) {
  sqlite::Statement columns(db, fmt::format("PRAGMA table_info({})", table).c_str());
  while (columns.step() == SQLITE_ROW)
    if (columns.text(1) == column) return true;
  return false;
}

}  // namespace

void StateStore::create_batch_tables() {
  exec(
      "CREATE TABLE IF NOT EXISTS batch_jobs(key TEXT PRIMARY KEY, provider TEXT NOT NULL, node TEXT NOT NULL, "
      "status TEXT NOT NULL, upload_id TEXT NOT NULL DEFAULT '', batch_id TEXT NOT NULL DEFAULT '', "
      "provider_status TEXT NOT NULL DEFAULT '', lines INTEGER NOT NULL DEFAULT 0, succeeded INTEGER NOT NULL "
      "DEFAULT 0, errored INTEGER NOT NULL DEFAULT 0, created_unix_ms INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT "
      "NULL DEFAULT 0)");
  exec(
      "CREATE TABLE IF NOT EXISTS batch_lines(job TEXT NOT NULL, custom_id TEXT NOT NULL, items TEXT NOT NULL "
      "DEFAULT '')");
  exec("CREATE INDEX IF NOT EXISTS batch_lines_by_job ON batch_lines(job)");
  // The first states with batch jobs recorded no item keys, nor a job's tokens.
  if (!batch_table_has_column(db_, "batch_lines", "items"))
    exec("ALTER TABLE batch_lines ADD COLUMN items TEXT NOT NULL DEFAULT ''");
  if (!batch_table_has_column(db_, "batch_jobs", "tokens"))
    exec("ALTER TABLE batch_jobs ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0");
}

namespace {

constexpr const char* kBatchJobColumns =
    "key, provider, node, status, upload_id, batch_id, provider_status, lines, succeeded, errored, created_unix_ms, "
    "tokens";

StateStore::BatchJob read_batch_job_row(sqlite::Statement& s) {
  StateStore::BatchJob job;
  job.key = s.text(0);
  job.provider = s.text(1);
  job.node = s.text(2);
  job.status = s.text(3);
  job.upload_id = s.text(4);
  job.batch_id = s.text(5);
  job.provider_status = s.text(6);
  job.lines = s.integer(7);
  job.succeeded = s.integer(8);
  job.errored = s.integer(9);
  job.created_unix_ms = s.integer(10);
  job.tokens = s.integer(11);
  return job;
}

/// Writes a job's row (a new one, or over the old); returns SQLite's code.
int write_batch_job(sqlite3* db, const StateStore::BatchJob& job) {
  sqlite::Statement s(
      db,
      fmt::format("INSERT OR REPLACE INTO batch_jobs({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", kBatchJobColumns).c_str());
  s.bind(1, job.key);
  s.bind(2, job.provider);
  s.bind(3, job.node);
  s.bind(4, job.status);
  s.bind(5, job.upload_id);
  s.bind(6, job.batch_id);
  s.bind(7, job.provider_status);
  s.bind(8, job.lines);
  s.bind(9, job.succeeded);
  s.bind(10, job.errored);
  s.bind(11, job.created_unix_ms);
  s.bind(12, job.tokens);
  return s.step();
}

/// A line's item keys, as stored: separated by spaces (none in a state older than them).
std::vector<std::string> batch_line_items(const std::string& stored) {
  if (stored.empty()) return {};
  return split(stored, ' ');
}

}  // namespace

void StateStore::begin_batch_job(const BatchJob& job, const std::vector<BatchLine>& lines) {
  std::lock_guard lock(mutex_);
  durable_transaction([&] {
    check(write_batch_job(db_, job), "record a batch job");
    sqlite::Statement line(db_, "INSERT INTO batch_lines(job, custom_id, items) VALUES (?, ?, ?)");
    for (const auto& [id, items] : lines) {
      line.bind(1, job.key);
      line.bind(2, id);
      line.bind(3, join(items, " "));
      check(line.step(), "record a batch job's lines");
      line.reset();
    }
  });
}

void StateStore::update_batch_job(const BatchJob& job) {
  std::lock_guard lock(mutex_);
  durable_transaction([&] { check(write_batch_job(db_, job), "record a batch job"); });
}

std::vector<std::pair<StateStore::BatchJob, std::vector<StateStore::BatchLine>>> StateStore::batch_jobs(
    const std::string& provider) {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<BatchJob, std::vector<BatchLine>>> out;
  sqlite::Statement jobs(db_, fmt::format("SELECT {} FROM batch_jobs WHERE provider = ? AND status != 'abandoned' "
                                          "ORDER BY created_unix_ms, rowid",
                                          kBatchJobColumns)
                                  .c_str());
  jobs.bind(1, provider);
  while (jobs.step() == SQLITE_ROW) out.emplace_back(read_batch_job_row(jobs), std::vector<BatchLine>());
  sqlite::Statement lines(db_, "SELECT custom_id, items FROM batch_lines WHERE job = ?");
  for (auto& [job, rows] : out) {
    lines.bind(1, job.key);
    while (lines.step() == SQLITE_ROW) rows.push_back(BatchLine{lines.text(0), batch_line_items(lines.text(1))});
    lines.reset();
  }
  return out;
}

std::vector<StateStore::BatchJob> read_batch_jobs(sqlite3* db) {
  std::vector<StateStore::BatchJob> out;
  try {
    sqlite::Statement jobs(
        db, fmt::format("SELECT {} FROM batch_jobs ORDER BY created_unix_ms, rowid", kBatchJobColumns).c_str());
    while (jobs.step() == SQLITE_ROW) out.push_back(read_batch_job_row(jobs));
  } catch (const std::exception&) {  // a state older than batch jobs has no such table
  }
  return out;
}

}  // namespace flowbatch

#include "engine/state/state_store.h"

#include "engine/core/text.h"

#include "engine/core/exceptions.h"
#include "engine/io/durable.h"
#include "engine/state/sqlite.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace flowbatch {
namespace {

using sqlite::is_io_error;
using sqlite::Statement;

constexpr const char* kStateSchema = "flowbatch-state-2";
constexpr const char* kStateSchemaBefore = "flowbatch-state-1";  // upgraded in place: outputs had no item counts

std::string now_text() { return utc_now_text(); }

std::runtime_error refused(const std::filesystem::path& file, const std::string& why) {
  return std::runtime_error(fmt::format(
      "the state file {} {}; run with --fresh to start over (the old file is kept, renamed)", file.string(), why));
}

/// A state that cannot be written where it is: --fresh would fail the same way, so say what to fix.
std::runtime_error unwritable(const std::filesystem::path& file, const std::string& why) {
  return std::runtime_error(
      fmt::format("cannot keep the run's state in {}: {}; make that folder writable, or set "
                  "pipeline.state to another place (\"none\" keeps no state)",
                  file.string(), why));
}

/// Checks up front what SQLite would otherwise report late and vaguely: the folder must exist
/// (created here) and be writable, and so must the file when it exists.
void check_writable(const std::filesystem::path& file) {
  const auto folder = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  try {
    create_folders_durably(folder);
  } catch (const StorageFull&) {
    throw;  // says what to do already
  } catch (const std::exception& e) {
    throw unwritable(file, e.what());
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    throw unwritable(file, fmt::format("the folder {} is not writable ({})", folder.string(), std::strerror(errno)));
  if (::access(file.c_str(), F_OK) == 0 && ::access(file.c_str(), R_OK | W_OK) != 0)
    throw unwritable(file, fmt::format("the file is not writable ({})", std::strerror(errno)));
}

}  // namespace

// --- CompletedRecords ----------------------------------------------------------------------------

void CompletedRecords::add_run(std::uint64_t first, std::vector<std::uint64_t> hashes) {
  count_ += hashes.size();
  runs_.push_back(Run{first, std::move(hashes)});
}

void CompletedRecords::sort() {
  std::sort(runs_.begin(), runs_.end(), [](const Run& a, const Run& b) { return a.first < b.first; });
}

std::uint64_t CompletedRecords::first_free_line() const {
  std::uint64_t free = 1;
  for (const Run& run : runs_) free = std::max<std::uint64_t>(free, run.first + run.hashes.size());
  return free;
}

CompletedRecords::Status CompletedRecords::lookup(std::uint64_t line, std::uint64_t hash) const {
  auto it =
      std::upper_bound(runs_.begin(), runs_.end(), line, [](std::uint64_t l, const Run& r) { return l < r.first; });
  if (it == runs_.begin()) return Status::unknown;
  --it;
  if (line >= it->first + it->hashes.size()) return Status::unknown;
  return it->hashes[line - it->first] == hash ? Status::done : Status::changed;
}

// --- StateStore ----------------------------------------------------------------------------------

StateStore::StateStore(const std::filesystem::path& file, const std::string& pipeline) : file_(file) {
  check_writable(file);
  const bool existed = std::filesystem::exists(file);
  if (!existed) {
    if (const int error = sqlite::create_private_file(file)) throw unwritable(file, std::strerror(error));
  }
  if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    const int code = db_ ? sqlite3_extended_errcode(db_) : SQLITE_NOMEM;
    sqlite3_close(db_);
    db_ = nullptr;
    if ((code & 0xFF) == SQLITE_FULL) throw_failure(code, "cannot create the state: " + why);
    if (is_io_error(code)) throw unwritable(file, why);
    throw refused(file, "cannot be opened (" + why + ")");
  }
  try {
    // WAL: commits are atomic and never corrupt the file. Writes of the cache are not synced
    // one by one (synchronous=NORMAL); every output commit is (see durable_transaction), and so
    // takes all earlier writes to the disk with it.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA busy_timeout=5000");
    exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    exec(
        "CREATE TABLE IF NOT EXISTS sinks(name TEXT PRIMARY KEY, position INTEGER NOT NULL, items INTEGER NOT NULL "
        "DEFAULT 0)");
    exec(
        "CREATE TABLE IF NOT EXISTS partial(sink TEXT NOT NULL, source TEXT NOT NULL, line INTEGER NOT NULL, "
        "hash INTEGER NOT NULL, part INTEGER NOT NULL)");
    exec("CREATE INDEX IF NOT EXISTS partial_by_sink ON partial(sink)");
    exec(
        "CREATE TABLE IF NOT EXISTS completed(source TEXT NOT NULL, first_line INTEGER NOT NULL, hashes BLOB NOT "
        "NULL)");
    exec("CREATE INDEX IF NOT EXISTS completed_by_source ON completed(source)");
    exec("CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    exec(
        "CREATE TABLE IF NOT EXISTS replays(id INTEGER PRIMARY KEY AUTOINCREMENT, file TEXT NOT NULL, aside TEXT NOT "
        "NULL, "
        "output TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT)");
    create_batch_tables();
    create_followed_files_table();
    // States once kept the request cache (table `cache`); the lasting cache (pipeline.cache) took
    // its place. An old state's table is left as it is.
  } catch (const StorageFull&) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  } catch (const std::exception& e) {
    const int code = sqlite3_extended_errcode(db_);
    sqlite3_close(db_);
    db_ = nullptr;
    if (is_io_error(code)) throw unwritable(file, e.what());
    throw refused(file, fmt::format("is not a flowbatch state, or is damaged ({})", e.what()));
  }

  if (!existed) sync_folder(file.has_parent_path() ? file.parent_path() : std::filesystem::path("."));
  std::map<std::string, std::string> meta;
  {
    // Scoped so the statement is finalized before a refusal below closes the handle: a handle
    // closed with a live statement is left open, and leaks.
    Statement get(db_, "SELECT key, value FROM meta");
    while (get.step() == SQLITE_ROW) meta[get.text(0)] = get.text(1);
  }
  if (!meta.empty() && meta["schema"] == kStateSchemaBefore) upgrade_schema(meta["schema"]);
  else if (!meta.empty() && meta["schema"] != kStateSchema) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw refused(file, fmt::format("was written by another program or version (schema \"{}\")", meta["schema"]));
  }
  if (!meta.empty() && meta["pipeline"] != pipeline) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw refused(file, fmt::format("belongs to pipeline \"{}\", not \"{}\"", meta["pipeline"], pipeline));
  }
  previous_run_ = !meta.empty();
  Statement put(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
  auto set = [&](const std::string& k, const std::string& v) {
    put.bind(1, k);
    put.bind(2, v);
    put.step();
    put.reset();
  };
  set("schema", kStateSchema);
  set("pipeline", pipeline);
  if (!previous_run_) set("started_at", now_text());
  set("updated_at", now_text());
  set("status", "running");
}

StateStore::~StateStore() {
  if (db_) sqlite3_close(db_);
}

/// Moves the state aside as one file: its WAL is first folded into it (a checkpoint), so the
/// archive is whole on its own, and the one rename is atomic and synced. A kill at any moment
/// leaves either the state in place or a complete archive, never a file without its tables.
std::optional<std::filesystem::path> StateStore::archive(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return std::nullopt;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  const std::string why = db ? sqlite3_errmsg(db) : "out of memory";
  sqlite3_close(db);  // the last connection: SQLite removes the emptied WAL and its index
  if (rc != SQLITE_OK) throw std::runtime_error(fmt::format("cannot set the state {} aside: {}", file.string(), why));
  for (const char* suffix : {"-wal", "-shm"})
    std::filesystem::remove(file.string() + suffix);  // empty after the checkpoint
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  const std::string stem = file.string() + fmt::format(".{:%Y%m%d-%H%M%S}", tm);
  std::filesystem::path target = stem + ".old";
  for (int n = 2; std::filesystem::exists(target); ++n)
    target = fmt::format("{}-{}.old", stem, n);  // never over an archive
  rename_durably(file, target);
  return target;
}

void StateStore::upgrade_schema(const std::string& from) {
  (void)from;  // only flowbatch-state-1 is known: it lacks the outputs' item counts
  try {
    exec("ALTER TABLE sinks ADD COLUMN items INTEGER NOT NULL DEFAULT 0");
  } catch (const std::exception& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw refused(file_, fmt::format("could not be upgraded from {} ({})", from, e.what()));
  }
}

void StateStore::exec(const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    const std::string why = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw_failure(rc, why);
  }
}

void StateStore::check(int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw_failure(rc, fmt::format("state {}: {}: {}", file_.string(), what, sqlite3_errmsg(db_)));
}

/// A state that cannot be written because its disk is full stops the run resumable, like an
/// output on a full disk: SQLite rolled the transaction back, so nothing is recorded half.
void StateStore::throw_failure(int rc, const std::string& message) const {
  if ((rc & 0xFF) == SQLITE_FULL)
    throw StorageFull(
        fmt::format("{} (the disk holding the state {} is full: free some space, then run the same command "
                    "to go on)",
                    message, file_.string()));
  throw std::runtime_error(message);
}

std::uint64_t StateStore::sink_position(const std::string& sink) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT position FROM sinks WHERE name = ?");
  s.bind(1, sink);
  return s.step() == SQLITE_ROW ? static_cast<std::uint64_t>(s.integer(0)) : 0;
}

std::uint64_t StateStore::sink_items(const std::string& sink) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT items FROM sinks WHERE name = ?");
  s.bind(1, sink);
  return s.step() == SQLITE_ROW ? static_cast<std::uint64_t>(s.integer(0)) : 0;
}

std::vector<ItemKey> StateStore::partial_items(const std::string& sink, const std::vector<std::string>& source_names) {
  std::lock_guard lock(mutex_);
  std::vector<ItemKey> out;
  Statement s(db_, "SELECT source, line, hash, part FROM partial WHERE sink = ?");
  s.bind(1, sink);
  while (s.step() == SQLITE_ROW) {
    const auto source = std::find(source_names.begin(), source_names.end(), s.text(0));
    if (source == source_names.end()) continue;  // a source the graph no longer has
    out.push_back(ItemKey{static_cast<std::uint16_t>(source - source_names.begin()),
                          static_cast<std::uint64_t>(s.integer(1)), static_cast<std::uint64_t>(s.integer(2)),
                          static_cast<std::uint64_t>(s.integer(3))});
  }
  return out;
}

void StateStore::clear_partial() {
  std::lock_guard lock(mutex_);
  exec("DELETE FROM partial");
}

CompletedRecords StateStore::completed(const std::string& source) {
  std::lock_guard lock(mutex_);
  CompletedRecords out;
  Statement s(db_, "SELECT first_line, hashes FROM completed WHERE source = ?");
  s.bind(1, source);
  while (s.step() == SQLITE_ROW) {
    const auto first = static_cast<std::uint64_t>(s.integer(0));
    const auto* blob = static_cast<const unsigned char*>(sqlite3_column_blob(s.get(), 1));
    const auto bytes = static_cast<std::size_t>(sqlite3_column_bytes(s.get(), 1));
    std::vector<std::uint64_t> hashes(bytes / 8);
    if (blob && !hashes.empty()) std::memcpy(hashes.data(), blob, hashes.size() * 8);
    out.add_run(first, std::move(hashes));
  }
  out.sort();
  return out;
}

/// Records as rows of consecutive lines (one row per run, a hash per line): a flush of a hundred
/// thousand records mostly in order is a few rows.
void StateStore::insert_runs(const RecordRuns& runs, const std::vector<std::string>& source_names) {
  if (runs.empty()) return;
  Statement insert(db_, "INSERT INTO completed(source, first_line, hashes) VALUES (?, ?, ?)");
  static const std::string unknown = "?";
  for (const RecordRuns::Run& run : runs.runs()) {
    insert.bind(1, run.source < source_names.size() ? source_names[run.source] : unknown);
    insert.bind(2, static_cast<std::int64_t>(run.first_line));
    insert.bind_blob(3, runs.hashes().data() + run.offset, run.count * 8);
    check(insert.step(), "record completed items");
    insert.reset();
  }
}

void StateStore::insert_partial(const std::string& sink, const std::vector<ItemKey>& items,
                                const std::vector<std::string>& source_names) {
  if (items.empty()) return;
  Statement insert(db_, "INSERT INTO partial(sink, source, line, hash, part) VALUES (?, ?, ?, ?, ?)");
  static const std::string unknown = "?";
  for (const ItemKey& k : items) {
    insert.bind(1, sink);
    insert.bind(2, k.source < source_names.size() ? source_names[k.source] : unknown);
    insert.bind(3, static_cast<std::int64_t>(k.line));
    insert.bind(4, static_cast<std::int64_t>(k.hash));
    insert.bind(5, static_cast<std::int64_t>(k.part));
    check(insert.step(), "record items of incomplete records");
    insert.reset();
  }
}

/// A transaction that is on the disk when it returns (synchronous=FULL syncs the WAL at its
/// commit), with every write before it: what outputs' commits and completed records need, since a
/// resumed run trusts them. Called with mutex_ held.
void StateStore::durable_transaction(const std::function<void()>& body) {
  exec("PRAGMA synchronous=FULL");
  exec("BEGIN IMMEDIATE");
  try {
    body();
    exec("COMMIT");
  } catch (...) {
    // SQLite may have rolled back already (a full disk does); a failing ROLLBACK must not hide
    // the error that caused it.
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
    throw;
  }
  exec("PRAGMA synchronous=NORMAL");
}

void StateStore::commit(const std::string& sink, const Commit& c, const std::vector<std::string>& source_names) {
  std::lock_guard lock(mutex_);
  durable_transaction([&] {
    Statement s(db_,
                "INSERT INTO sinks(name, position, items) VALUES (?1, ?2, ?3) "
                "ON CONFLICT(name) DO UPDATE SET position = ?2, items = items + ?3");
    s.bind(1, sink);
    s.bind(2, static_cast<std::int64_t>(c.position));
    s.bind(3, static_cast<std::int64_t>(c.items_added));
    check(s.step(), "record an output's position");
    if (c.completed) insert_runs(*c.completed, source_names);
    if (c.partial) insert_partial(sink, *c.partial, source_names);
  });
}

void StateStore::complete(const RecordRuns& records, const std::vector<std::string>& source_names) {
  if (records.empty()) return;
  std::lock_guard lock(mutex_);
  durable_transaction([&] { insert_runs(records, source_names); });
}

void StateStore::set_status(const std::string& status) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES ('status', ?), ('updated_at', ?)");
  s.bind(1, status);
  s.bind(2, now_text());
  check(s.step(), "record the run's status");
}

void StateStore::set_fingerprints(const std::string& json) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES ('fingerprints', ?)");
  s.bind(1, json);
  check(s.step(), "record the graph's fingerprints");
}

void StateStore::set_counters(const std::map<std::string, std::int64_t>& counters) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "INSERT OR REPLACE INTO counters(name, value) VALUES (?, ?)");
  for (const auto& [name, value] : counters) {
    s.bind(1, name);
    s.bind(2, value);
    check(s.step(), "record counters");
    s.reset();
  }
}

std::int64_t StateStore::counter(const std::string& name) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT value FROM counters WHERE name = ?");
  s.bind(1, name);
  return s.step() == SQLITE_ROW ? s.integer(0) : 0;
}

std::optional<StateStore::Replay> StateStore::unfinished_replay() {
  std::lock_guard lock(mutex_);
  Statement s(
      db_,
      "SELECT id, file, aside, output, status, started_at FROM replays WHERE status != 'finished' ORDER BY id LIMIT 1");
  if (s.step() != SQLITE_ROW) return std::nullopt;
  return Replay{s.integer(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5)};
}

StateStore::Replay StateStore::begin_replay(const std::string& file, const std::string& aside,
                                            const std::string& output) {
  std::lock_guard lock(mutex_);
  Replay r{0, file, aside, output, "moving", now_text()};
  durable_transaction([&] {
    Statement insert(db_, "INSERT INTO replays(file, aside, output, status, started_at) VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, file);
    insert.bind(2, aside);
    insert.bind(3, output);
    insert.bind(4, r.status);
    insert.bind(5, r.started_at);
    check(insert.step(), "record a replay");
    r.id = sqlite3_last_insert_rowid(db_);
    if (output.empty()) return;
    Statement reset(db_, "UPDATE sinks SET position = 0, items = 0 WHERE name = ?");
    reset.bind(1, output);
    check(reset.step(), "start an output afresh");
    Statement forget(db_, "DELETE FROM partial WHERE sink = ?");
    forget.bind(1, output);
    check(forget.step(), "start an output afresh");
  });
  return r;
}

void StateStore::set_replay_status(std::int64_t id, const std::string& status) {
  std::lock_guard lock(mutex_);
  durable_transaction([&] {
    Statement s(
        db_, "UPDATE replays SET status = ?, finished_at = CASE WHEN ? = 'finished' THEN ? ELSE NULL END WHERE id = ?");
    s.bind(1, status);
    s.bind(2, status);
    s.bind(3, now_text());
    s.bind(4, id);
    check(s.step(), "record a replay's status");
  });
}

std::unordered_set<std::uint64_t> StateStore::replayed_records(std::int64_t except) {
  std::lock_guard lock(mutex_);
  std::unordered_set<std::uint64_t> out;
  const std::string own = fmt::format("replay:{}:%", except);
  Statement s(db_, "SELECT hashes FROM completed WHERE source LIKE 'replay:%' AND source NOT LIKE ?");
  s.bind(1, own);
  while (s.step() == SQLITE_ROW) {
    const auto* blob = static_cast<const unsigned char*>(sqlite3_column_blob(s.get(), 0));
    const auto bytes = static_cast<std::size_t>(sqlite3_column_bytes(s.get(), 0));
    for (std::size_t i = 0; blob && i + 8 <= bytes; i += 8) {
      std::uint64_t h;
      std::memcpy(&h, blob + i, 8);
      out.insert(h);
    }
  }
  return out;
}

std::string read_state_fingerprints(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("no state at " + file.string());
  }
  std::string json;
  try {
    Statement get(db, "SELECT value FROM meta WHERE key = 'fingerprints'");
    if (get.step() == SQLITE_ROW) json = get.text(0);
  } catch (const std::exception& e) {
    sqlite3_close(db);
    throw std::runtime_error(fmt::format("{} is not a flowbatch state, or is damaged ({})", file.string(), e.what()));
  }
  sqlite3_close(db);
  return json;
}

StateSummary read_state_summary(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("no state at " + file.string() + " (has the graph run yet?)");
  }
  StateSummary s;
  try {
    Statement meta(db, "SELECT key, value FROM meta");
    while (meta.step() == SQLITE_ROW) {
      const std::string k = meta.text(0);
      if (k == "pipeline") s.pipeline = meta.text(1);
      if (k == "status") s.status = meta.text(1);
      if (k == "started_at") s.started_at = meta.text(1);
      if (k == "updated_at") s.updated_at = meta.text(1);
      if (k == "fingerprints") s.fingerprints = meta.text(1);
    }
    Statement counters(db, "SELECT name, value FROM counters");
    while (counters.step() == SQLITE_ROW) s.counters[counters.text(0)] = counters.integer(1);
    Statement sinks(db, "SELECT name, position, items FROM sinks");
    while (sinks.step() == SQLITE_ROW) {
      s.sink_positions[sinks.text(0)] = static_cast<std::uint64_t>(sinks.integer(1));
      s.sink_items[sinks.text(0)] = static_cast<std::uint64_t>(sinks.integer(2));
    }
    Statement done(db, "SELECT source, SUM(LENGTH(hashes)) / 8 FROM completed GROUP BY source");
    while (done.step() == SQLITE_ROW)
      s.completed_per_source[done.text(0)] = static_cast<std::uint64_t>(done.integer(1));
    s.batch_jobs = read_batch_jobs(db);
  } catch (const std::exception& e) {
    sqlite3_close(db);
    throw std::runtime_error(fmt::format("{} is not a flowbatch state, or is damaged ({})", file.string(), e.what()));
  }
  sqlite3_close(db);
  return s;
}

}  // namespace flowbatch

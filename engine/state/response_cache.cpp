#include "engine/state/response_cache.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "engine/core/exceptions.h"
#include "engine/core/hash.h"
#include "engine/io/durable.h"
#include "engine/state/sqlite.h"

namespace flowbatch {
namespace {

using sqlite::Statement;

constexpr const char* kCacheSchema = "flowbatch-cache-1";

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::runtime_error unusable(const std::filesystem::path& file, const std::string& why) {
  return std::runtime_error(
      fmt::format("cannot use the response cache {}: {}; set pipeline.cache to another file, or "
                  "to \"none\" to keep no cache",
                  file.string(), why));
}

void create_cache_file(const std::filesystem::path& file) {
  create_folders_durably(file.has_parent_path() ? file.parent_path() : std::filesystem::path("."));
  if (const int error = sqlite::create_private_file(file)) throw_file_error("cannot create " + file.string(), error);
}

sqlite3* open_read_only(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  if (!std::filesystem::exists(file) ||
      sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error(
        fmt::format("no response cache at {} (has a graph with cache = true run yet?)", file.string()));
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

std::uint64_t file_size_or_zero(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  return ec ? 0 : static_cast<std::uint64_t>(size);
}

}  // namespace

std::string cache_key_of(std::string_view what) {
  return hex16(stable_hash(what, 0x6361636865ULL)) + hex16(stable_hash(what, 0x616e73776572ULL));
}

ResponseCache::ResponseCache(std::filesystem::path file) : file_(std::move(file)) {
  try {
    create_cache_file(file_);
  } catch (const StorageFull&) {
    throw;
  } catch (const std::exception& e) {
    throw unusable(file_, e.what());
  }
  if (sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw unusable(file_, why);
  }
  try {
    // A cache is rebuilt by paying again, never needed for correctness: no sync per write.
    // Several runs may share the file: WAL lets them read while one writes, and they wait their
    // turn to write.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("PRAGMA busy_timeout=10000");
    exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    exec(
        "CREATE TABLE IF NOT EXISTS answers(key TEXT PRIMARY KEY, value BLOB NOT NULL, input_tokens INTEGER NOT NULL, "
        "output_tokens INTEGER NOT NULL, created_at INTEGER NOT NULL, used_at INTEGER NOT NULL, "
        "hits INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID");
    exec("CREATE INDEX IF NOT EXISTS answers_by_use ON answers(used_at)");
    std::string schema;
    {
      Statement get(db_, "SELECT value FROM meta WHERE key = 'schema'");
      if (get.step() == SQLITE_ROW) schema = get.text(0);
    }
    if (schema.empty()) exec(fmt::format("INSERT INTO meta(key, value) VALUES ('schema', '{}')", kCacheSchema).c_str());
    else if (schema != kCacheSchema)
      throw std::runtime_error(fmt::format("it was written by another program or version (schema \"{}\")", schema));
  } catch (const StorageFull&) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  } catch (const std::exception& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw unusable(file_, e.what());
  }
}

ResponseCache::~ResponseCache() {
  try {
    flush_hits();
  } catch (const std::exception&) {
    // Hit counts are statistics: a run ending on a full disk must not fail for them.
  }
  sqlite3_close(db_);
}

std::optional<CachedAnswer> ResponseCache::get(const std::string& key) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT value, input_tokens, output_tokens FROM answers WHERE key = ?");
  s.bind(1, key);
  const int rc = s.step();
  if (rc != SQLITE_ROW) {
    check(rc, "look up an answer");
    return std::nullopt;
  }
  hit_keys_.push_back(key);
  return CachedAnswer{s.blob(0), s.integer(1), s.integer(2)};
}

void ResponseCache::put(const std::string& key, const CachedAnswer& answer) {
  std::lock_guard lock(mutex_);
  Statement s(db_,
              "INSERT OR REPLACE INTO answers(key, value, input_tokens, output_tokens, created_at, used_at, hits) "
              "VALUES (?, ?, ?, ?, ?, ?, 0)");
  const std::int64_t now = now_unix();
  s.bind(1, key);
  s.bind_blob(2, answer.value.data(), answer.value.size());
  s.bind(3, answer.input_tokens);
  s.bind(4, answer.output_tokens);
  s.bind(5, now);
  s.bind(6, now);
  check(s.step(), "store an answer");
  if (hit_keys_.size() >= 4096) flush_hits_locked();
}

void ResponseCache::flush_hits() {
  std::lock_guard lock(mutex_);
  flush_hits_locked();
}

void ResponseCache::flush_hits_locked() {
  if (hit_keys_.empty()) return;
  exec("BEGIN IMMEDIATE");
  try {
    Statement s(db_, "UPDATE answers SET hits = hits + 1, used_at = ? WHERE key = ?");
    const std::int64_t now = now_unix();
    for (const auto& key : hit_keys_) {
      s.bind(1, now);
      s.bind(2, key);
      check(s.step(), "count a hit");
      s.reset();
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    hit_keys_.clear();
    throw;
  }
  hit_keys_.clear();
}

void ResponseCache::exec(const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    const std::string why = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw_failure(rc, why);
  }
}

void ResponseCache::check(int rc, const char* what) const {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw_failure(rc, fmt::format("response cache {}: cannot {}: {}", file_.string(), what, sqlite3_errmsg(db_)));
}

void ResponseCache::throw_failure(int rc, const std::string& message) const {
  if ((rc & 0xFF) == SQLITE_FULL)
    throw StorageFull(fmt::format("{} (the disk holding the response cache {} is full)", message, file_.string()));
  throw std::runtime_error(message);
}

CacheStats ResponseCache::stats(const std::filesystem::path& file) {
  sqlite3* db = open_read_only(file);
  CacheStats s;
  try {
    Statement q(db,
                "SELECT COUNT(*), COALESCE(SUM(hits), 0), COALESCE(SUM(hits * input_tokens), 0), "
                "COALESCE(SUM(hits * output_tokens), 0), COALESCE(MIN(used_at), 0), COALESCE(MAX(used_at), 0) "
                "FROM answers");
    if (q.step() == SQLITE_ROW) {
      s.entries = static_cast<std::uint64_t>(q.integer(0));
      s.hits = static_cast<std::uint64_t>(q.integer(1));
      s.saved_input_tokens = static_cast<std::uint64_t>(q.integer(2));
      s.saved_output_tokens = static_cast<std::uint64_t>(q.integer(3));
      s.oldest_unix = q.integer(4);
      s.newest_unix = q.integer(5);
    }
  } catch (const std::exception& e) {
    sqlite3_close(db);
    throw std::runtime_error(
        fmt::format("{} is not a flowbatch response cache, or is damaged ({})", file.string(), e.what()));
  }
  sqlite3_close(db);
  s.bytes = file_size_or_zero(file) + file_size_or_zero(file.string() + "-wal");
  return s;
}

std::uint64_t ResponseCache::prune(const std::filesystem::path& file, std::int64_t older_than_seconds) {
  sqlite3* db = open_read_only(file);
  std::uint64_t removed = 0;
  try {
    Statement del(db, "DELETE FROM answers WHERE used_at < ?");
    del.bind(1, now_unix() - older_than_seconds);
    if (del.step() != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db));
    removed = static_cast<std::uint64_t>(sqlite3_changes(db));
    // Give the space back: a pruned cache that stays the same size surprises.
    if (removed > 0) sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM", nullptr, nullptr, nullptr);
  } catch (const std::exception& e) {
    sqlite3_close(db);
    throw std::runtime_error(fmt::format("cannot prune the response cache {}: {}", file.string(), e.what()));
  }
  sqlite3_close(db);
  return removed;
}

}  // namespace flowbatch

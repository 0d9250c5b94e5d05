#pragma once
// The lasting response cache: successful answers kept in their own SQLite file (by default
// .flowbatch/cache.db beside the states), keyed by what decides the answer. It outlives runs,
// `--fresh` and graph edits, and graphs that name the same file share it: a request answered once
// is never paid for again. A cache, not a record: losing it costs money, never results.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace flowbatch {

/// An answer as the cache keeps it, with the tokens it cost when it was paid for (what a hit saves).
struct CachedAnswer {
  std::string value;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
};

/// What `flowbatch cache stats` shows.
struct CacheStats {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;               ///< the file and its write-ahead log on disk
  std::uint64_t hits = 0;                ///< answers given from the cache, over its life
  std::uint64_t saved_input_tokens = 0;  ///< tokens those hits did not pay for
  std::uint64_t saved_output_tokens = 0;
  std::int64_t oldest_unix = 0;  ///< the entry least recently used (0: none)
  std::int64_t newest_unix = 0;
};

/// Thread-safe.
class ResponseCache {
 public:
  /// Opens (or creates, 0600, folders included) the cache file. Throws std::runtime_error naming
  /// the file and what to do when it cannot; StorageFull when its disk is full.
  explicit ResponseCache(std::filesystem::path file);
  ~ResponseCache();
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  std::optional<CachedAnswer> get(const std::string& key);
  /// Keeps an answer (replacing an older one with the same key). Throws StorageFull on a full
  /// disk, std::runtime_error on other failures (the caller decides: a cache that cannot write
  /// costs money, not results).
  void put(const std::string& key, const CachedAnswer& answer);
  /// Writes the hits since the last call (their count and the time of last use, which `prune`
  /// goes by). Called when the run ends; hits are batched so a hit costs no write of its own.
  void flush_hits();

  const std::filesystem::path& file() const { return file_; }

  /// Reads a cache file's statistics without changing it.
  static CacheStats stats(const std::filesystem::path& file);
  /// Removes the entries not used for `older_than_seconds`; returns how many.
  static std::uint64_t prune(const std::filesystem::path& file, std::int64_t older_than_seconds);

 private:
  void exec(const char* sql);
  void check(int rc, const char* what) const;
  [[noreturn]] void throw_failure(int rc, const std::string& message) const;
  void flush_hits_locked();

  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
  std::vector<std::string> hit_keys_;  // guarded by mutex_
};

/// 128 bits of a stable hash of `what`, in hex: the key of an answer.
std::string cache_key_of(std::string_view what);

}  // namespace flowbatch

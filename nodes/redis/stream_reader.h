#pragma once
// Reading a Redis stream as a consumer group member: new entries (XREADGROUP), entries a dead
// consumer left pending (XPENDING + XCLAIM), and acknowledging done ones (XACK).
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "flowbatch/source.h"
#include "nodes/redis/redis_options.h"

namespace flowbatch {

struct StreamSettings {
  RedisServer server;
  std::string stream;
  std::string group;
  std::string consumer;
  std::string start_id;
  std::chrono::milliseconds claim_idle{};
  std::int64_t max_deliveries = 0;
  bool until_empty = false;
};

/// The entries this consumer holds (read, not yet acknowledged), by the line the reader gave each:
/// shared by the reader (which adds) and the commit thread (which acknowledges). Thread-safe.
class StreamEntries final : public Acknowledger {
 public:
  explicit StreamEntries(const StreamSettings& settings) : settings_(settings) {}
  void hold(std::uint64_t line, const std::string& id);
  bool holds(const std::string& id) const;
  std::vector<std::string> held() const;
  void acknowledge(const std::vector<std::uint64_t>& lines) override;

 private:
  const StreamSettings& settings_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::string> by_line_;
  std::unordered_set<std::string> ids_;
  std::vector<std::string> unacknowledged_;  // an XACK that failed: sent again with the next
  std::unique_ptr<RedisConnection> connection_;
};

class StreamReader final : public SourceReader {
 public:
  StreamReader(const StreamSettings& settings, std::shared_ptr<StreamEntries> entries);
  bool read(std::vector<Record>& out, std::size_t max) override;
  /// The group's entries not yet delivered and those pending (delivered, not acknowledged), across
  /// its workers: XINFO GROUPS, which returns at once like the reads.
  std::optional<SourceLag> lag() override;

 private:
  void create_group();
  void keep_held_entries();
  void claim_abandoned(std::vector<Record>& out, std::size_t max);
  void read_new(std::vector<Record>& out, std::size_t max);
  bool nothing_pending();
  void add_entries(const RedisReply& entries, const std::unordered_map<std::string, long long>& deliveries,
                   std::vector<Record>& out);
  RedisReply run(const std::vector<std::string>& command, const char* name);

  const StreamSettings& settings_;
  std::shared_ptr<StreamEntries> entries_;
  std::unique_ptr<RedisConnection> connection_;
  bool group_ready_ = false;
  std::uint64_t next_line_ = 1;
  std::chrono::steady_clock::time_point next_claim_{};
  std::chrono::steady_clock::time_point next_keep_{};
};

/// A group's lag in the reply of XINFO GROUPS: nothing when the group is not there or the server
/// does not tell (before Redis 7.0, or after deletions it cannot count past).
std::optional<SourceLag> stream_group_lag(const RedisReply& groups, const std::string& group);

/// Record text: {"entry_id": "...", "deliveries": n, "fields": {...}}: what a dead letter keeps.
std::string stream_record(const std::string& id, long long deliveries, const RedisReply& field_values);

}  // namespace flowbatch

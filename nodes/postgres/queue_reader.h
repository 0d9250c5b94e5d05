#pragma once
// Reading a PostgreSQL table of pending rows as one of several workers: claiming rows (SELECT ...
// FOR UPDATE SKIP LOCKED, in one short statement), keeping the claims of rows still being worked
// on fresh, taking back rows whose worker died (their lease ran out) and marking done ones.
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "flowbatch/source.h"
#include "nodes/postgres/postgres_options.h"

namespace flowbatch {

/// The statements a queue runs, made once from the configuration. Parameters: claim $1 = how many
/// rows (bigint), $2 = the lease in ms (bigint), $3 = the ids this worker holds (text[]); complete
/// and renew $1 = an array of ids.
struct QueueStatements {
  std::string claim;     ///< returns (id as text, the row as JSON text)
  std::string complete;  ///< marks rows done
  std::string renew;     ///< refreshes the claims of rows still worked on ("" for none)
  std::string waiting;   ///< one boolean: rows are pending or claimed ("" when unknown)
  std::string backlog;   ///< two counts: rows pending (unclaimed), rows claimed ("" when unknown)
};

struct QueueSettings {
  PostgresServer server;
  std::string table;  ///< as written, for messages
  QueueStatements sql;
  std::string id_column;                 ///< as in the row's JSON
  std::vector<std::string> bookkeeping;  ///< the columns left out of the item (status, claimed_at, deliveries)
  std::string deliveries_column;         ///< "" when the claim does not count deliveries
  std::string json_column;
  std::chrono::milliseconds lease{};
  std::int64_t max_deliveries = 0;
  bool until_empty = false;
};

/// The statements of the default layout: status ('pending', 'claimed', 'done'), claimed_at and
/// deliveries columns, all quoted names.
QueueStatements status_column_statements(const std::string& table, const std::string& id, const std::string& status,
                                         const std::string& claimed_at, const std::string& deliveries);
/// The statements around a user's own claim and complete SQL.
QueueStatements user_statements(const std::string& claim_sql, const std::string& complete_sql,
                                const std::string& id_column);

/// The rows this worker holds (claimed, not yet done), by the line the reader gave each: shared by
/// the reader (which adds) and the commit thread (which marks them done). Thread-safe.
class QueueRows final : public Acknowledger {
 public:
  explicit QueueRows(const QueueSettings& settings) : settings_(settings) {}
  void hold(std::uint64_t line, const std::string& id);
  std::vector<std::string> held() const;
  bool holds_any() const;
  void acknowledge(const std::vector<std::uint64_t>& lines) override;
  /// A postgres sink on the same database marks rows done in its own commit's transaction.
  std::string store() const override { return settings_.server.target.conninfo; }
  std::optional<Acknowledgement> acknowledgement(const std::vector<std::uint64_t>& lines) override;
  void acknowledged_by_sink(const std::vector<std::uint64_t>& lines) override;

 private:
  void forget(const std::vector<std::uint64_t>& lines);

  const QueueSettings& settings_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::string> by_line_;
  std::unordered_multiset<std::string> ids_;
  std::vector<std::uint64_t> unacknowledged_;  // lines whose completion failed: sent again with the next
  std::unique_ptr<PostgresConnection> connection_;
};

class QueueReader final : public SourceReader {
 public:
  QueueReader(const QueueSettings& settings, std::shared_ptr<QueueRows> rows);
  bool read(std::vector<Record>& out, std::size_t max) override;
  /// The table's rows not claimed yet and those claimed (by any worker) and not done: one short
  /// statement, like the claim (a count reads the rows it counts: an index on the status column
  /// keeps it cheap on a table of many done rows).
  std::optional<SourceLag> lag() override;

 private:
  void renew_held_rows();
  bool nothing_waiting();

  const QueueSettings& settings_;
  std::shared_ptr<QueueRows> rows_;
  std::unique_ptr<PostgresConnection> connection_;
  std::uint64_t next_line_ = 1;
  std::chrono::steady_clock::time_point next_renew_{};
};

}  // namespace flowbatch

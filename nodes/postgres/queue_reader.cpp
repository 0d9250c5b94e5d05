#include "nodes/postgres/queue_reader.h"

#include <fmt/format.h>

namespace flowbatch {
namespace {

/// The rows a claim statement returned, as (id, row JSON): wrapping it in a WITH lets any
/// UPDATE ... RETURNING (ours or the user's) give every column, typed as JSON types.
std::string claim_returning_json(const std::string& claim, const std::string& id_column) {
  return fmt::format("WITH claimed AS ({}) SELECT claimed.{}::text, row_to_json(claimed)::text FROM claimed", claim,
                     id_column);
}

}  // namespace

QueueStatements status_column_statements(const std::string& table, const std::string& id, const std::string& status,
                                         const std::string& claimed_at, const std::string& deliveries) {
  QueueStatements s;
  // One statement, so one short transaction: the inner SELECT locks rows no other worker has
  // locked (SKIP LOCKED), the UPDATE marks them claimed. A claim older than the lease is a dead
  // worker's: taken back, counting one more delivery.
  const std::string claimable = fmt::format(
      "SELECT {1} FROM {0} WHERE ({2} = 'pending' OR ({2} = 'claimed' AND {3} < now() - $2 * interval '1 "
      "millisecond')) "
      "AND {1}::text <> ALL($3) LIMIT $1 FOR UPDATE SKIP LOCKED",
      table, id, status, claimed_at);
  s.claim = claim_returning_json(
      fmt::format("UPDATE {0} AS t SET {2} = 'claimed', {3} = now(), {4} = coalesce(t.{4}, 0) + 1 WHERE t.{1} IN ({5}) "
                  "RETURNING t.*",
                  table, id, status, claimed_at, deliveries, claimable),
      id);
  s.complete = fmt::format("UPDATE {0} SET {2} = 'done' WHERE {1} = ANY($1)", table, id, status);
  s.renew =
      fmt::format("UPDATE {0} SET {3} = now() WHERE {1} = ANY($1) AND {2} = 'claimed'", table, id, status, claimed_at);
  s.waiting = fmt::format("SELECT EXISTS (SELECT 1 FROM {0} WHERE {1} IN ('pending', 'claimed'))", table, status);
  s.backlog = fmt::format(
      "SELECT count(*) FILTER (WHERE {1} = 'pending'), count(*) FILTER (WHERE {1} = 'claimed') FROM {0} WHERE {1} IN "
      "('pending', 'claimed')",
      table, status);
  return s;
}

QueueStatements user_statements(const std::string& claim_sql, const std::string& complete_sql,
                                const std::string& id_column) {
  return QueueStatements{claim_returning_json(claim_sql, id_column), complete_sql, "", "", ""};
}

void QueueRows::hold(std::uint64_t line, const std::string& id) {
  const std::lock_guard lock(mutex_);
  by_line_.emplace(line, id);
  ids_.insert(id);
}

std::vector<std::string> QueueRows::held() const {
  const std::lock_guard lock(mutex_);
  const std::unordered_set<std::string> distinct(ids_.begin(), ids_.end());
  return {distinct.begin(), distinct.end()};
}

bool QueueRows::holds_any() const {
  const std::lock_guard lock(mutex_);
  return !by_line_.empty();
}

/// The rows stay held until marked done: meanwhile the reader neither claims them again (their lease
/// may have run out) nor stops renewing them.
void QueueRows::acknowledge(const std::vector<std::uint64_t>& lines) {
  std::vector<std::uint64_t> done;
  std::vector<std::string> ids;
  {
    const std::lock_guard lock(mutex_);
    done.swap(unacknowledged_);
    done.insert(done.end(), lines.begin(), lines.end());
    for (std::uint64_t line : done)
      if (const auto it = by_line_.find(line); it != by_line_.end()) ids.push_back(it->second);
  }
  if (ids.empty()) return;
  try {
    if (!connection_) connection_ = settings_.server.connect();
    connection_->exec(settings_.sql.complete, {PgParam{pg_array_literal(ids)}});
  } catch (const std::exception&) {
    // Not marked done yet: tried again with the next commit. Should this process die first, the
    // rows come back to another worker after their lease, whose results overwrite these.
    const std::lock_guard lock(mutex_);
    unacknowledged_.insert(unacknowledged_.end(), done.begin(), done.end());
    return;
  }
  forget(done);
}

std::optional<Acknowledgement> QueueRows::acknowledgement(const std::vector<std::uint64_t>& lines) {
  std::vector<std::string> ids;
  {
    const std::lock_guard lock(mutex_);
    for (std::uint64_t line : lines)
      if (const auto it = by_line_.find(line); it != by_line_.end()) ids.push_back(it->second);
  }
  if (ids.empty()) return std::nullopt;
  return Acknowledgement{settings_.sql.complete, pg_array_literal(ids)};
}

/// Marked done by a sink's transaction: no longer held.
void QueueRows::acknowledged_by_sink(const std::vector<std::uint64_t>& lines) { forget(lines); }

void QueueRows::forget(const std::vector<std::uint64_t>& lines) {
  const std::lock_guard lock(mutex_);
  for (std::uint64_t line : lines) {
    const auto it = by_line_.find(line);
    if (it == by_line_.end()) continue;
    ids_.erase(ids_.find(it->second));
    by_line_.erase(it);
  }
}

QueueReader::QueueReader(const QueueSettings& settings, std::shared_ptr<QueueRows> rows)
    : settings_(settings), rows_(std::move(rows)), connection_(settings.server.connect()) {
  connection_->exec("SELECT 1");  // a wrong address or password is a failure to open, said at once
}

bool QueueReader::read(std::vector<Record>& out, std::size_t max) {
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_renew_) {
    renew_held_rows();
    next_renew_ = now + settings_.lease / 3;
  }
  const std::vector<std::string> held = rows_->held();
  const PgResult claimed =
      connection_->exec(settings_.sql.claim, {PgParam{std::to_string(max), kInt8Oid},
                                              PgParam{std::to_string(settings_.lease.count()), kInt8Oid},
                                              PgParam{pg_array_literal(held), kTextArrayOid}});
  const std::unordered_set<std::string> holding(held.begin(), held.end());
  for (int row = 0; row < claimed.rows(); ++row) {
    std::string id = claimed.text(row, 0);
    if (holding.count(id)) continue;  // a user's claim SQL that took back a row of ours: it is in flight already
    const std::uint64_t line = next_line_++;
    rows_->hold(line, id);
    out.push_back(Record{line, claimed.text(row, 1)});
  }
  return !(out.empty() && settings_.until_empty && nothing_waiting());
}

/// With the user's own claim SQL, which says nothing of how rows wait, the lag is unknown.
std::optional<SourceLag> QueueReader::lag() {
  if (settings_.sql.backlog.empty()) return std::nullopt;
  const PgResult counts = connection_->exec(settings_.sql.backlog);
  return SourceLag{std::stoull(counts.text(0, 0)), "rows", std::stoull(counts.text(0, 1)), "claimed"};
}

/// Rows this worker is still working on get a fresh claimed_at, so a slow call's row is not taken
/// back by another worker (which would count a delivery and do the call twice).
void QueueReader::renew_held_rows() {
  if (settings_.sql.renew.empty()) return;
  const std::vector<std::string> ids = rows_->held();
  if (!ids.empty()) connection_->exec(settings_.sql.renew, {PgParam{pg_array_literal(ids)}});
}

/// Until empty: nothing pending and nothing claimed (by this worker or another) is left. With the
/// user's own claim SQL, which says nothing of how rows wait: nothing this worker holds.
bool QueueReader::nothing_waiting() {
  if (settings_.sql.waiting.empty()) return !rows_->holds_any();
  return connection_->exec(settings_.sql.waiting).text(0, 0) == "f";
}

}  // namespace flowbatch

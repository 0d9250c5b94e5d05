#pragma once
// A blocking PostgreSQL connection (libpq), for the PostgreSQL queue source and sink.
//
// Blocking for the same reason as the Redis connection (redis_connection.h): every statement sent
// here is short (claim a few rows, mark some done, upsert a flush's results) and costs one round
// trip, on the threads that already do a source's reads, a sink's writes and the commits. Waiting
// for rows that have not arrived yet is the engine's poll timer, never a thread parked on a socket.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/backoff.h"

struct pg_conn;
struct pg_result;

namespace flowbatch {

/// Where a server is, as a libpq connection string (a postgres:// URL or key=value pairs).
struct PostgresTarget {
  std::string conninfo;   ///< may hold a password: never printed
  std::string described;  ///< "postgres://host:port/dbname": never the user or the password
  std::chrono::milliseconds timeout{};
};

/// Checks a connection string without connecting; nothing, with the reason in `why`, when libpq
/// cannot read it. The reason never quotes the string (it may hold a password).
std::optional<PostgresTarget> parse_postgres_target(const std::string& conninfo, std::chrono::milliseconds timeout,
                                                    std::string& why);

/// One statement's result, freed with its last copy.
class PgResult {
 public:
  explicit PgResult(pg_result* result = nullptr);
  bool ok() const;            ///< the statement succeeded
  std::string error() const;  ///< the server's reason when it did not
  int rows() const;
  bool is_null(int row, int column) const;
  std::string text(int row, int column) const;

 private:
  std::shared_ptr<pg_result> result_;
};

/// A statement's parameter: its text (nothing for NULL) and its type's oid (0: let the server infer).
struct PgParam {
  std::optional<std::string> text;
  unsigned type = 0;
};
/// A statement with its parameters.
struct PgStatement {
  std::string sql;
  std::vector<PgParam> params;
};
inline constexpr unsigned kInt8Oid = 20;
inline constexpr unsigned kTextArrayOid = 1009;

/// Reconnects on the next statement after a failure, waiting longer each time (up to a few
/// seconds); a connection found dead at its first use after a pause is replaced at once and the
/// statement sent again (every statement used here may safely run twice: a claim's rows come back
/// after their lease, upserts and completions are idempotent). Not thread-safe: one connection per
/// thread of use. Errors throw std::runtime_error naming the server (never its password).
class PostgresConnection {
 public:
  explicit PostgresConnection(PostgresTarget target);
  ~PostgresConnection();
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  /// Runs one statement in its own transaction (or a script without parameters).
  PgResult exec(const std::string& sql, const std::vector<PgParam>& params = {});
  /// Runs statements in one transaction: all of them take effect, or (on a failure, which throws)
  /// none. Sent again as a whole on a connection found dead at its first use, never in part.
  void transaction(const std::vector<PgStatement>& statements);
  const PostgresTarget& target() const { return target_; }

 private:
  PgResult exchange(const std::string& sql, const std::vector<PgParam>& params);
  void run_transaction(const std::vector<PgStatement>& statements);
  void ensure_connected();
  [[noreturn]] void lost(const std::string& what);

  PostgresTarget target_;
  pg_conn* connection_ = nullptr;
  ReconnectPacing pacing_;
  std::string last_failure_;
};

/// A PostgreSQL array literal ({"a","b"}) of `values`, for `= ANY($1)` and unnest($1).
std::string pg_array_literal(const std::vector<std::string>& values);

/// A name made safe to splice into SQL: "name" or "schema"."name" (letters, digits, _ and $ per
/// part, not starting with a digit); nothing when it is not one.
std::optional<std::string> pg_quoted_name(const std::string& name, bool qualified);

}  // namespace flowbatch

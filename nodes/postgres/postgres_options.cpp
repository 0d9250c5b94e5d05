#include "nodes/postgres/postgres_options.h"

namespace flowbatch {

std::vector<KeySpec> postgres_server_keys() {
  return {
      {"connection", KeyKind::string, true, "",
       "the server: a postgres://user:password@host:port/db URL or libpq key=value pairs; write it (or its password) "
       "as ${ENV}: it is never printed"},
      {"timeout_ms", KeyKind::integer, false, "5000",
       "how long to wait to connect (libpq counts whole seconds, at least 2)"},
  };
}

std::optional<PostgresServer> read_postgres_server(Options& o) {
  const std::int64_t timeout = o.integer("timeout_ms");
  if (timeout < 1) o.error("timeout_ms", "must be at least 1");
  std::string why;
  auto target = parse_postgres_target(o.string("connection"), std::chrono::milliseconds(timeout), why);
  if (!target) o.error("connection", why);
  if (!target || timeout < 1) return std::nullopt;
  return PostgresServer{std::move(*target)};
}

std::string read_sql_name(Options& o, std::string_view key, bool qualified) {
  auto quoted = pg_quoted_name(o.string(key), qualified);
  if (quoted) return *quoted;
  o.error(key, qualified ? "must be a plain table name (letters, digits, _), optionally schema.table"
                         : "must be a plain column name (letters, digits, _)");
  return {};
}

}  // namespace flowbatch

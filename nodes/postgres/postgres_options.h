#pragma once
// The keys every PostgreSQL source and sink shares: where the server is, and how long to wait for it.
#include <memory>
#include <optional>
#include <vector>

#include "engine/io/postgres_connection.h"
#include "flowbatch/options.h"

namespace flowbatch {

struct PostgresServer {
  PostgresTarget target;
  std::unique_ptr<PostgresConnection> connect() const { return std::make_unique<PostgresConnection>(target); }
};

std::vector<KeySpec> postgres_server_keys();
/// Nothing after reporting errors. The connection string is never quoted back (it may hold a password).
std::optional<PostgresServer> read_postgres_server(Options& o);
/// `key`'s value as a quoted SQL name ("schema"."table" when `qualified`), reporting an error when
/// it is not a plain name.
std::string read_sql_name(Options& o, std::string_view key, bool qualified);

}  // namespace flowbatch

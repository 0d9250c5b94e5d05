#include "engine/io/postgres_connection.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace flowbatch {
namespace {

/// libpq's messages end with a newline (sometimes two lines: "FATAL: ..."): one line for ours.
std::string pq_one_line(const char* message) {
  std::string text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

std::string conninfo_option(const PQconninfoOption* options, const char* name) {
  for (const PQconninfoOption* o = options; o->keyword; ++o)
    if (std::string_view(o->keyword) == name && o->val) return o->val;
  return {};
}

bool sql_name_part(std::string_view part) {
  if (part.empty() || std::isdigit(static_cast<unsigned char>(part.front()))) return false;
  return std::all_of(part.begin(), part.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; });
}

}  // namespace

std::optional<PostgresTarget> parse_postgres_target(const std::string& conninfo, std::chrono::milliseconds timeout,
                                                    std::string& why) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  // libpq's reason quotes the part it could not read, which may be the password: not passed on.
  if (error) PQfreemem(error);
  if (!options) {
    why = "is not a PostgreSQL connection string (postgres://user@host:port/db, or host=... dbname=... pairs)";
    return std::nullopt;
  }
  std::string host = conninfo_option(options, "host");
  if (host.empty()) host = conninfo_option(options, "hostaddr");
  const std::string port = conninfo_option(options, "port");
  const std::string db = conninfo_option(options, "dbname");
  PQconninfoFree(options);
  std::string described = "postgres://" + (host.empty() ? std::string("(default host)") : host);
  if (!port.empty()) described += ":" + port;
  if (!db.empty()) described += "/" + db;
  return PostgresTarget{conninfo, std::move(described), timeout};
}

PgResult::PgResult(pg_result* result)
    : result_(result, [](pg_result* r) {
        if (r) PQclear(r);
      }) {}

bool PgResult::ok() const {
  if (!result_) return false;
  const ExecStatusType status = PQresultStatus(result_.get());
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}
std::string PgResult::error() const {
  return result_ ? pq_one_line(PQresultErrorMessage(result_.get())) : "no result (out of memory)";
}
int PgResult::rows() const { return result_ ? PQntuples(result_.get()) : 0; }
bool PgResult::is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
std::string PgResult::text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}

PostgresConnection::PostgresConnection(PostgresTarget target) : target_(std::move(target)) {}

PostgresConnection::~PostgresConnection() {
  if (connection_) PQfinish(connection_);
}

void PostgresConnection::lost(const std::string& what) {
  if (connection_) PQfinish(connection_);
  connection_ = nullptr;
  pacing_.failed();
  last_failure_ = what;
  throw std::runtime_error(fmt::format("{}: {}", target_.described, what));
}

void PostgresConnection::ensure_connected() {
  if (connection_) return;
  if (!pacing_.may_try())
    throw std::runtime_error(
        fmt::format("{}: not connected (reconnecting after: {})", target_.described, last_failure_));
  // The string is expanded as "dbname" (a URL or key=value pairs); the keys after it override its own.
  const std::string seconds = std::to_string(std::max<long long>(2, (target_.timeout.count() + 999) / 1000));
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {target_.conninfo.c_str(), seconds.c_str(), "flowbatch", nullptr};
  connection_ = PQconnectdbParams(keys, values, 1);
  if (!connection_) lost("cannot allocate a connection");
  if (PQstatus(connection_) != CONNECTION_OK)
    lost(fmt::format("cannot connect: {}", pq_one_line(PQerrorMessage(connection_))));
  pacing_.connected();
}

PgResult PostgresConnection::exec(const std::string& sql, const std::vector<PgParam>& params) {
  const bool was_connected = connection_ != nullptr;
  try {
    return exchange(sql, params);
  } catch (const std::runtime_error&) {
    if (!was_connected || (connection_ && PQstatus(connection_) == CONNECTION_OK)) throw;
    // A connection that went stale while idle (the server restarted): one fresh try at once.
    pacing_.try_now();
    return exchange(sql, params);
  }
}

void PostgresConnection::transaction(const std::vector<PgStatement>& statements) {
  const bool was_connected = connection_ != nullptr;
  try {
    run_transaction(statements);
  } catch (const std::runtime_error&) {
    if (!was_connected || (connection_ && PQstatus(connection_) == CONNECTION_OK)) throw;
    pacing_.try_now();  // as exec(): a connection gone stale while idle gets one fresh try
    run_transaction(statements);
  }
}

void PostgresConnection::run_transaction(const std::vector<PgStatement>& statements) {
  exchange("BEGIN", {});
  try {
    for (const PgStatement& statement : statements) exchange(statement.sql, statement.params);
    exchange("COMMIT", {});
  } catch (const std::runtime_error&) {
    // The server rolls back a transaction whose connection is lost; a live one is told to.
    if (connection_ && PQstatus(connection_) == CONNECTION_OK) PgResult(PQexec(connection_, "ROLLBACK"));
    throw;
  }
}

PgResult PostgresConnection::exchange(const std::string& sql, const std::vector<PgParam>& params) {
  ensure_connected();
  std::vector<const char*> values;
  std::vector<unsigned> types;
  for (const PgParam& p : params) {
    values.push_back(p.text ? p.text->c_str() : nullptr);
    types.push_back(p.type);
  }
  PgResult result(params.empty() ? PQexec(connection_, sql.c_str())
                                 : PQexecParams(connection_, sql.c_str(), static_cast<int>(params.size()), types.data(),
                                                values.data(), nullptr, nullptr, 0));
  if (PQstatus(connection_) != CONNECTION_OK)
    lost(fmt::format("connection lost: {}", pq_one_line(PQerrorMessage(connection_))));
  if (!result.ok()) throw std::runtime_error(fmt::format("{}: {}", target_.described, result.error()));
  return result;
}

std::string pg_array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::optional<std::string> pg_quoted_name(const std::string& name, bool qualified) {
  const auto dot = name.find('.');
  if (dot == std::string::npos) {
    if (!sql_name_part(name)) return std::nullopt;
    return "\"" + name + "\"";
  }
  if (!qualified) return std::nullopt;
  const std::string schema = name.substr(0, dot);
  const std::string table = name.substr(dot + 1);
  if (!sql_name_part(schema) || !sql_name_part(table)) return std::nullopt;
  return "\"" + schema + "\".\"" + table + "\"";
}

}  // namespace flowbatch

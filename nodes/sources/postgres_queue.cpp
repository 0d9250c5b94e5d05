// type = "postgres_queue": the pending rows of a PostgreSQL table, claimed a few at a time in short
// transactions (FOR UPDATE SKIP LOCKED), so several workers share one table. A row is marked done
// only once its result or dead letter is committed; rows claimed by a worker that died come back
// once their lease has run out.
#include <fmt/format.h>
#include <boost/json.hpp>

#include "nodes/kinds.h"
#include "nodes/postgres/queue_reader.h"

namespace flowbatch {
namespace {

class PostgresQueueSource final : public Source {
 public:
  explicit PostgresQueueSource(QueueSettings settings)
      : settings_(std::move(settings)), rows_(std::make_shared<QueueRows>(settings_)) {}

  std::unique_ptr<SourceReader> open() override { return std::make_unique<QueueReader>(settings_, rows_); }
  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override;
  std::string default_id_field() const override { return settings_.id_column; }
  std::string describe() const override {
    return fmt::format("{} table {}", settings_.server.target.described, settings_.table);
  }
  bool follows() const override { return true; }
  std::shared_ptr<Acknowledger> acknowledger() override { return rows_; }

 private:
  std::optional<std::string> unpack_json_column(boost::json::object& fields) const;

  QueueSettings settings_;
  std::shared_ptr<QueueRows> rows_;
};

std::optional<std::string> PostgresQueueSource::decode(const Record& record, boost::json::object& fields) const {
  boost::system::error_code ec;
  boost::json::value row = boost::json::parse(record.text, ec);
  if (ec || !row.is_object()) return "not a row";
  fields = std::move(row.as_object());
  const boost::json::value* id = fields.if_contains(settings_.id_column);
  const std::string shown = id ? boost::json::serialize(*id) : "?";
  if (const boost::json::value* d = fields.if_contains(settings_.deliveries_column); d && d->is_number()) {
    const auto deliveries = d->to_number<std::int64_t>();
    if (deliveries > settings_.max_deliveries)
      return fmt::format("row {} was delivered {} times (max_deliveries = {})", shown, deliveries,
                         settings_.max_deliveries);
  }
  for (const std::string& column : settings_.bookkeeping) fields.erase(column);
  if (auto why = unpack_json_column(fields)) return fmt::format("row {}: {}", shown, *why);
  return std::nullopt;
}

/// json_column: one column holds the item as a JSON object (a json/jsonb value, or text holding
/// one), whose members join the other columns.
std::optional<std::string> PostgresQueueSource::unpack_json_column(boost::json::object& fields) const {
  if (settings_.json_column.empty()) return std::nullopt;
  const auto it = fields.find(settings_.json_column);
  if (it == fields.end()) return fmt::format("no column \"{}\"", settings_.json_column);
  boost::json::value inner = it->value();
  if (inner.is_string()) {
    boost::system::error_code ec;
    inner = boost::json::parse(inner.as_string(), ec);
    if (ec) inner = nullptr;
  }
  if (!inner.is_object()) return fmt::format("column \"{}\" is not a JSON object", settings_.json_column);
  fields.erase(it);
  for (auto& [key, value] : inner.as_object()) fields[key] = std::move(value);
  return std::nullopt;
}

std::vector<KeySpec> queue_keys() {
  std::vector<KeySpec> k = postgres_server_keys();
  const std::vector<KeySpec> own = {
      {"table", KeyKind::string, true, "", "the table of rows to do (schema.table or table)"},
      {"id_column", KeyKind::string, false, "id", "the column naming each row (unique); the default id_field"},
      {"status_column", KeyKind::string, false, "status",
       "the column saying where a row is: 'pending', 'claimed' (by a worker) or 'done'"},
      {"claimed_at_column", KeyKind::string, false, "claimed_at",
       "the column with the time a worker claimed the row (a timestamptz)"},
      {"deliveries_column", KeyKind::string, false, "deliveries",
       "the column counting how often the row was claimed (an integer, counted by the claim)"},
      {"lease_ms", KeyKind::integer, false, "60000",
       "a row claimed this long ago by a worker that is no longer renewing it (one that died) is claimed again"},
      {"max_deliveries", KeyKind::integer, false, "5",
       "a row delivered more often than this goes to the source's invalid port (a dead letter)"},
      {"json_column", KeyKind::string, false, "",
       "a column holding the item as a JSON object, whose members become the item's fields"},
      {"claim_sql", KeyKind::string, false, "",
       "instead of the status columns: a statement claiming up to $1 rows (lease $2 ms; not the ids in $3, this "
       "worker's) and RETURNING them"},
      {"complete_sql", KeyKind::string, false, "",
       "with claim_sql: a statement marking the rows whose ids are in the array $1 done"},
      {"until_empty", KeyKind::boolean, false, "false",
       "stop reading once no row is pending or claimed (else: run until drained)"},
  };
  k.insert(k.end(), own.begin(), own.end());
  return k;
}

/// The default layout's statements, or the user's own claim and complete SQL (both or neither).
QueueStatements read_statements(Options& o, const std::string& table, const std::string& id) {
  const bool own_claim = !o.string("claim_sql").empty();
  const bool own_complete = !o.string("complete_sql").empty();
  if (own_claim != own_complete)
    o.error(own_claim ? "claim_sql" : "complete_sql", "needs both claim_sql and complete_sql");
  if (own_claim) return user_statements(o.string("claim_sql"), o.string("complete_sql"), id);
  return status_column_statements(table, id, read_sql_name(o, "status_column", false),
                                  read_sql_name(o, "claimed_at_column", false),
                                  read_sql_name(o, "deliveries_column", false));
}

std::unique_ptr<Source> configure_queue(Options& o) {
  auto server = read_postgres_server(o);
  QueueSettings s;
  s.table = o.string("table");
  const std::string table = read_sql_name(o, "table", true);
  const std::string id = read_sql_name(o, "id_column", false);
  s.sql = read_statements(o, table, id);
  s.id_column = o.string("id_column");
  s.deliveries_column = o.string("deliveries_column");
  if (o.string("claim_sql").empty())
    s.bookkeeping = {o.string("status_column"), o.string("claimed_at_column"), s.deliveries_column};
  s.json_column = o.string("json_column");
  s.lease = std::chrono::milliseconds(o.integer("lease_ms"));
  s.max_deliveries = o.integer("max_deliveries");
  s.until_empty = o.boolean("until_empty");
  if (s.lease.count() < 10) o.error("lease_ms", "must be at least 10");
  if (s.max_deliveries < 1) o.error("max_deliveries", "must be at least 1");
  if (!server) return nullptr;
  s.server = std::move(*server);
  return std::make_unique<PostgresQueueSource>(std::move(s));
}

}  // namespace

void register_postgres_queue_source(Registry& registry) {
  registry.add(SourceType{"postgres_queue", "the pending rows of a PostgreSQL table, shared by several workers",
                          queue_keys(), configure_queue});
}

}  // namespace flowbatch

// type = "postgres": each result as JSON (jsonb) in a PostgreSQL table, under its item's id,
// upserted (INSERT ... ON CONFLICT (id) DO UPDATE): a redelivered item overwrites, never duplicates.
//
// Positions count items handed to the server. write_out() sends the buffered results in one
// statement, which is one transaction: committed, they are durable (synchronous_commit), so sync()
// has nothing left to do. Redelivered or resumed items are simply written again over themselves.
// When a postgres_queue source of the run uses the same database (the same connection string),
// write_out() only stages the statement instead, and the commit sends it in one transaction with
// the completion of the queue rows it finishes (sync_with).
#include <fmt/format.h>

#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "nodes/kinds.h"
#include "nodes/postgres/postgres_options.h"
#include "nodes/sinks/item_json.h"

namespace flowbatch {
namespace {

struct ResultTable {
  std::string create;  ///< CREATE TABLE IF NOT EXISTS (the documented layout)
  std::string exists;  ///< one boolean
  std::string upsert;  ///< $1 ids (text[]), $2 results (jsonb[])
};

ResultTable result_table(const std::string& table) {
  return ResultTable{
      fmt::format("CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, result jsonb NOT NULL, "
                  "updated_at timestamptz NOT NULL DEFAULT now())",
                  table),
      fmt::format("SELECT to_regclass('{}') IS NOT NULL", table),
      fmt::format("INSERT INTO {} AS r (id, result) SELECT * FROM unnest($1::text[], $2::jsonb[]) "
                  "ON CONFLICT (id) DO UPDATE SET result = EXCLUDED.result, updated_at = now()",
                  table),
  };
}

class PostgresWriter final : public SinkWriter {
 public:
  PostgresWriter(const PostgresServer& server, const ResultTable& sql, ItemJsonShape shape)
      : connection_(server.connect()), sql_(sql), shape_(std::move(shape)) {
    create_table();
  }

  void write(const Item& item) override {
    std::string json;
    append_item_json(item, shape_, json);
    // One statement may not upsert a row twice: an id written again in the same flush keeps its last result.
    pending_[item.id] = std::move(json);
    ++buffered_;
  }
  std::uint64_t write_out() override {
    std::optional<PgStatement> upsert = take_upsert();
    if (joined_) {  // sent by sync_with(), with the acknowledgements of this commit
      const std::lock_guard lock(staged_mutex_);
      staged_.push_back(std::move(upsert));
    } else if (upsert) {
      connection_->exec(upsert->sql, upsert->params);
    }
    written_ += buffered_;
    buffered_ = 0;
    return written_;
  }
  void sync() override { sync_with({}); }

  std::string store() const override { return connection_->target().conninfo; }
  bool join_acknowledgements() override {
    joined_ = true;
    return true;
  }
  /// The oldest staged write_out() and the acknowledgements of the records it completes, in one
  /// transaction: a row of the queue is done if and only if its result is stored.
  void sync_with(const std::vector<Acknowledgement>& acknowledgements) override {
    if (!joined_) return;  // each write_out() was its own transaction, durable once it returned
    std::vector<PgStatement> statements;
    {
      const std::lock_guard lock(staged_mutex_);
      if (!staged_.empty()) {
        if (staged_.front()) statements.push_back(std::move(*staged_.front()));
        staged_.pop_front();
      }
    }
    for (const Acknowledgement& a : acknowledgements) statements.push_back({a.statement, {PgParam{a.argument}}});
    if (!statements.empty()) sync_connection().transaction(statements);
  }

 private:
  /// Two workers starting together may both try to create the table: the loser's error is no
  /// error once the table is there.
  void create_table() {
    try {
      connection_->exec(sql_.create);
    } catch (const std::runtime_error&) {
      bool exists = false;
      try {
        exists = connection_->exec(sql_.exists).text(0, 0) == "t";
      } catch (const std::runtime_error&) {  // not connected: the first failure says why
      }
      if (!exists) throw;
    }
  }

  /// The upsert of the results written since the last write_out(); nothing when there are none.
  std::optional<PgStatement> take_upsert() {
    if (pending_.empty()) return std::nullopt;
    std::vector<std::string> ids;
    std::vector<std::string> results;
    for (auto& [id, json] : pending_) {
      ids.push_back(id);
      results.push_back(std::move(json));
    }
    pending_.clear();
    return PgStatement{sql_.upsert, {PgParam{pg_array_literal(ids)}, PgParam{pg_array_literal(results)}}};
  }
  /// sync_with() runs on the commit thread while write() goes on: a connection of its own.
  PostgresConnection& sync_connection() {
    if (!sync_connection_) sync_connection_ = std::make_unique<PostgresConnection>(connection_->target());
    return *sync_connection_;
  }

  std::unique_ptr<PostgresConnection> connection_;
  std::unique_ptr<PostgresConnection> sync_connection_;
  bool joined_ = false;
  std::mutex staged_mutex_;
  std::deque<std::optional<PgStatement>> staged_;  // guarded by staged_mutex_: one entry per write_out()
  const ResultTable& sql_;
  ItemJsonShape shape_;
  std::map<std::string, std::string> pending_;
  std::uint64_t buffered_ = 0;
  std::uint64_t written_ = 0;
};

class PostgresSink final : public Sink {
 public:
  PostgresSink(PostgresServer server, ResultTable sql, ItemJsonShape shape, std::string table)
      : server_(std::move(server)), sql_(std::move(sql)), shape_(std::move(shape)), table_(std::move(table)) {}
  std::unique_ptr<SinkWriter> open(std::uint64_t) override {
    return std::make_unique<PostgresWriter>(server_, sql_, shape_);
  }
  std::string describe() const override { return fmt::format("{} table {}", server_.target.described, table_); }

 private:
  PostgresServer server_;
  ResultTable sql_;
  ItemJsonShape shape_;
  std::string table_;
};

std::vector<KeySpec> postgres_sink_keys() {
  std::vector<KeySpec> k = postgres_server_keys();
  k.push_back({"table", KeyKind::string, true, "",
               "the results' table (schema.table or table), created if missing: id text primary key, result jsonb, "
               "updated_at"});
  for (auto& key : item_json_keys()) k.push_back(std::move(key));
  return k;
}

std::unique_ptr<Sink> configure_postgres_sink(Options& o) {
  auto server = read_postgres_server(o);
  const std::string table = read_sql_name(o, "table", true);
  auto shape = read_item_json_shape(o);
  if (!server || table.empty()) return nullptr;
  return std::make_unique<PostgresSink>(std::move(*server), result_table(table), std::move(shape), o.string("table"));
}

}  // namespace

void register_postgres_sink(Registry& registry) {
  registry.add(SinkType{
      "postgres",
      "each result as JSON in a PostgreSQL table, upserted under its item's id (a redelivered item overwrites)",
      postgres_sink_keys(),
      configure_postgres_sink,
  });
}

}  // namespace flowbatch

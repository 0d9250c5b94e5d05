// type = "redis_hash": each result in one Redis hash, under its item's id (HSET): idempotent, so an
// item delivered again after a crash overwrites its result, never duplicates it.
// type = "redis_stream": each result appended to a Redis stream (XADD, optionally MAXLEN ~).
//
// Positions count items handed to Redis; Redis cannot take them back, so a resumed run keeps what
// is there. write_out() sends the buffered commands in one round trip and checks every reply; how
// durable they are then is the server's persistence setting (appendonly, appendfsync).
#include <fmt/format.h>

#include "nodes/kinds.h"
#include "nodes/redis/redis_options.h"
#include "nodes/sinks/item_json.h"

namespace flowbatch {
namespace {

/// Builds one command per item.
using CommandMaker = std::function<std::vector<std::string>(const Item&, const std::string& json)>;

class RedisWriter final : public SinkWriter {
 public:
  RedisWriter(const RedisServer& server, ItemJsonShape shape, CommandMaker make, const char* name)
      : server_(server), connection_(server.connect()), shape_(std::move(shape)), make_(std::move(make)), name_(name) {}

  void write(const Item& item) override {
    json_.clear();
    append_item_json(item, shape_, json_);
    pending_.push_back(make_(item, json_));
  }
  std::uint64_t write_out() override {
    if (pending_.empty()) return written_;
    const auto replies = connection_->pipeline(pending_);
    for (const RedisReply& reply : replies) check_reply(server_, reply, name_);
    written_ += pending_.size();
    pending_.clear();
    return written_;
  }
  void sync() override {}

 private:
  const RedisServer& server_;
  std::unique_ptr<RedisConnection> connection_;
  ItemJsonShape shape_;
  CommandMaker make_;
  const char* name_;
  std::vector<std::vector<std::string>> pending_;
  std::string json_;
  std::uint64_t written_ = 0;
};

class RedisSink final : public Sink {
 public:
  RedisSink(RedisServer server, ItemJsonShape shape, CommandMaker make, const char* name, std::string what)
      : server_(std::move(server)),
        shape_(std::move(shape)),
        make_(std::move(make)),
        name_(name),
        what_(std::move(what)) {}
  std::unique_ptr<SinkWriter> open(std::uint64_t) override {
    return std::make_unique<RedisWriter>(server_, shape_, make_, name_);
  }
  std::string describe() const override { return fmt::format("{} {}", server_.address.describe(), what_); }

 private:
  RedisServer server_;
  ItemJsonShape shape_;
  CommandMaker make_;
  const char* name_;
  std::string what_;
};

std::vector<KeySpec> keys_with(std::vector<KeySpec> own) {
  std::vector<KeySpec> k = redis_server_keys();
  k.insert(k.end(), own.begin(), own.end());
  for (auto& key : item_json_keys()) k.push_back(std::move(key));
  return k;
}

std::unique_ptr<Sink> configure_hash(Options& o) {
  auto server = read_redis_server(o);
  const std::string key = o.string("key");
  if (key.empty()) o.error("key", "must not be empty");
  auto shape = read_item_json_shape(o);
  if (!server) return nullptr;
  CommandMaker make = [key](const Item& item, const std::string& json) {
    return std::vector<std::string>{"HSET", key, item.id, json};
  };
  return std::make_unique<RedisSink>(std::move(*server), std::move(shape), std::move(make), "HSET", "hash " + key);
}

std::unique_ptr<Sink> configure_stream(Options& o) {
  auto server = read_redis_server(o);
  const std::string stream = o.string("stream");
  if (stream.empty()) o.error("stream", "must not be empty");
  const std::int64_t maxlen = o.integer("maxlen");
  if (maxlen < 0) o.error("maxlen", "must not be negative (0: no limit)");
  auto shape = read_item_json_shape(o);
  if (!server) return nullptr;
  CommandMaker make = [stream, maxlen](const Item& item, const std::string& json) {
    std::vector<std::string> c = {"XADD", stream};
    if (maxlen > 0) c.insert(c.end(), {"MAXLEN", "~", std::to_string(maxlen)});
    c.insert(c.end(), {"*", "id", item.id, "item", json});
    return c;
  };
  return std::make_unique<RedisSink>(std::move(*server), std::move(shape), std::move(make), "XADD", "stream " + stream);
}

}  // namespace

void register_redis_sinks(Registry& registry) {
  registry.add(SinkType{
      "redis_hash",
      "each result as JSON in one Redis hash, under its item's id (a redelivered item overwrites)",
      keys_with({{"key", KeyKind::string, true, "", "the hash's key"}}),
      configure_hash,
  });
  registry.add(SinkType{
      "redis_stream",
      "each result appended to a Redis stream (fields id and item)",
      keys_with({{"stream", KeyKind::string, true, "", "the stream's key"},
                 {"maxlen", KeyKind::integer, false, "0", "trim the stream to about this many entries (0: never)"}}),
      configure_stream,
  });
}

}  // namespace flowbatch

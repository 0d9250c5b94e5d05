// type = "redis_stream": the entries of a Redis stream, read as one consumer of a consumer group,
// so several workers share the stream. An entry is acknowledged (XACK) only once its result or
// dead letter is committed; entries left pending by a consumer that died are taken over.
#include <unistd.h>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "nodes/kinds.h"
#include "nodes/redis/stream_reader.h"

namespace flowbatch {
namespace {

class RedisStreamSource final : public Source {
 public:
  RedisStreamSource(StreamSettings settings, std::string json_field, std::string entry_id_field)
      : settings_(std::move(settings)),
        json_field_(std::move(json_field)),
        entry_id_field_(std::move(entry_id_field)),
        entries_(std::make_shared<StreamEntries>(settings_)) {}

  std::unique_ptr<SourceReader> open() override { return std::make_unique<StreamReader>(settings_, entries_); }
  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override;
  std::string default_id_field() const override { return entry_id_field_; }
  std::string describe() const override {
    return fmt::format("{} stream {} group {}", settings_.server.address.describe(), settings_.stream, settings_.group);
  }
  bool follows() const override { return true; }
  std::shared_ptr<Acknowledger> acknowledger() override { return entries_; }

 private:
  std::optional<std::string> unpack_json_field(boost::json::object& fields) const;

  StreamSettings settings_;
  std::string json_field_;
  std::string entry_id_field_;
  std::shared_ptr<StreamEntries> entries_;
};

std::optional<std::string> RedisStreamSource::decode(const Record& record, boost::json::object& fields) const {
  boost::system::error_code ec;
  boost::json::value envelope = boost::json::parse(record.text, ec);
  if (ec || !envelope.is_object()) return "not a stream entry";
  auto& e = envelope.as_object();
  const std::string id(e["entry_id"].as_string());
  const std::int64_t deliveries = e["deliveries"].to_number<std::int64_t>();
  if (deliveries > settings_.max_deliveries)
    return fmt::format("entry {} was delivered {} times (max_deliveries = {})", id, deliveries,
                       settings_.max_deliveries);
  fields = std::move(e["fields"].as_object());
  if (auto why = unpack_json_field(fields)) return fmt::format("entry {}: {}", id, *why);
  if (!entry_id_field_.empty()) fields[entry_id_field_] = id;
  return std::nullopt;
}

/// json_field: one field holds the item as a JSON object, whose members join the other fields.
std::optional<std::string> RedisStreamSource::unpack_json_field(boost::json::object& fields) const {
  if (json_field_.empty()) return std::nullopt;
  const auto it = fields.find(json_field_);
  if (it == fields.end()) return fmt::format("no field \"{}\"", json_field_);
  boost::system::error_code ec;
  boost::json::value inner = boost::json::parse(it->value().as_string(), ec);
  if (ec || !inner.is_object()) return fmt::format("field \"{}\" is not a JSON object", json_field_);
  fields.erase(it);
  for (auto& [key, value] : inner.as_object()) fields[key] = std::move(value);
  return std::nullopt;
}

std::string default_consumer() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}-{}", host, ::getpid());
}

std::vector<KeySpec> keys() {
  std::vector<KeySpec> k = redis_server_keys();
  const std::vector<KeySpec> own = {
      {"stream", KeyKind::string, true, "", "the stream's key"},
      {"group", KeyKind::string, false, "flowbatch", "the consumer group (created, with the stream, if missing)"},
      {"consumer", KeyKind::string, false, "",
       "this worker's name in the group (default: <host>-<pid>, a new consumer each run)"},
      {"start_id", KeyKind::string, false, "0",
       "where a newly created group starts: \"0\" the whole stream, \"$\" only entries added later"},
      {"claim_idle_ms", KeyKind::integer, false, "60000",
       "entries pending this long on another consumer (one that died) are taken over"},
      {"max_deliveries", KeyKind::integer, false, "5",
       "an entry delivered more often than this goes to the source's invalid port (a dead letter)"},
      {"json_field", KeyKind::string, false, "",
       "a field holding the item as a JSON object, whose members become the item's fields"},
      {"entry_id_field", KeyKind::string, false, "entry_id",
       "the field that receives the entry's id (\"\" for none); the default id_field"},
      {"until_empty", KeyKind::boolean, false, "false",
       "stop reading once the stream has nothing new and nothing pending (else: run until drained)"},
  };
  k.insert(k.end(), own.begin(), own.end());
  return k;
}

std::unique_ptr<Source> configure(Options& o) {
  auto server = read_redis_server(o);
  StreamSettings s;
  s.stream = o.string("stream");
  s.group = o.string("group");
  s.consumer = o.has("consumer") ? o.string("consumer") : default_consumer();
  s.start_id = o.string("start_id");
  s.claim_idle = std::chrono::milliseconds(o.integer("claim_idle_ms"));
  s.max_deliveries = o.integer("max_deliveries");
  s.until_empty = o.boolean("until_empty");
  if (s.stream.empty()) o.error("stream", "must not be empty");
  if (s.consumer.empty()) o.error("consumer", "must not be empty");
  if (s.claim_idle.count() < 10) o.error("claim_idle_ms", "must be at least 10");
  if (s.max_deliveries < 1) o.error("max_deliveries", "must be at least 1");
  if (!server) return nullptr;
  s.server = std::move(*server);
  return std::make_unique<RedisStreamSource>(std::move(s), o.string("json_field"), o.string("entry_id_field"));
}

}  // namespace

void register_redis_stream_source(Registry& registry) {
  registry.add(
      SourceType{"redis_stream", "the entries of a Redis stream, read by a consumer group", keys(), configure});
}

}  // namespace flowbatch

// [dead_letters.NAME]: writes every item that could not succeed as one JSON line holding its id,
// its original input, why it failed (class, message, HTTP status, request id), how often it was
// tried and when. Never a secret: messages are redacted before they reach an item.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <boost/json/serialize.hpp>

#include "engine/core/paths.h"
#include "engine/core/text.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/writer_node.h"
#include "nodes/kinds.h"
#include "nodes/sinks/openai_batch.h"

namespace flowbatch {
namespace {

enum class DeadLetterFormat { flowbatch, openai_batch };

struct DeadLetterConfig final : NodeConfig {
  std::filesystem::path path;
  DeadLetterFormat format = DeadLetterFormat::flowbatch;
  FlushPolicy flush;
  std::string label() const override { return display_path(path); }
};

/// RFC 3339 in UTC with milliseconds: "2026-11-27T08:15:02.123Z"; empty for 0.
std::string rfc3339(std::int64_t unix_ms) {
  if (unix_ms <= 0) return {};
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", tm, unix_ms % 1000);
}

class DeadLetterEncoder final : public RecordEncoder {
 public:
  /// `source_names` maps an item's source (ItemLedger::source) to the source node (for flowbatch replay).
  explicit DeadLetterEncoder(const std::vector<std::string>& source_names) : source_names_(source_names) {}

  void encode(const Item& item, std::string& out) const override {
    boost::json::object record;
    record["id"] = item.id.empty() ? boost::json::value(nullptr) : boost::json::value(item.id);
    if (const auto source = ItemLedger::source(item); source < source_names_.size())
      record["source"] = source_names_[source];
    if (item.line) record["line"] = item.line;
    boost::json::object error;
    if (item.failure) {
      const Failure& f = *item.failure;
      record["node"] = f.node;
      error["class"] = to_string(f.error_class);
      error["message"] = to_valid_utf8(f.message);  // a server's or a plugin's words: never trusted to be UTF-8
      if (f.http_status) error["http_status"] = f.http_status;
      if (!f.request_id.empty()) error["request_id"] = to_valid_utf8(f.request_id);
    }
    record["error"] = std::move(error);
    record["attempts"] = item.attempts;
    boost::json::array history;
    for (ErrorClass c : item.error_history) history.emplace_back(to_string(c));
    record["error_history"] = std::move(history);
    if (item.first_attempt_unix_ms) record["first_attempt_at"] = rfc3339(item.first_attempt_unix_ms);
    if (item.last_attempt_unix_ms) record["last_attempt_at"] = rfc3339(item.last_attempt_unix_ms);
    // An undecodable record is kept byte for byte: as text when it is UTF-8, else in base64 (JSON
    // cannot hold other bytes), which `flowbatch replay` decodes back.
    if (item.raw.empty()) record["input"] = item.fields;
    else if (is_valid_utf8(item.raw)) record["raw"] = item.raw;
    else record["raw_base64"] = base64_encode(item.raw);
    out += boost::json::serialize(record);
    out += '\n';
  }

 private:
  const std::vector<std::string>& source_names_;
};

/// OpenAI's Batch API error-file lines, for jobs whose inputs were Batch API lines.
class OpenAiBatchErrorEncoder final : public RecordEncoder {
 public:
  void encode(const Item& item, std::string& out) const override {
    append_openai_batch_error_line(item, out);
    out += '\n';
  }
};

std::unique_ptr<NodeConfig> parse_dead_letter(ParseContext& ctx) {
  Options& o = ctx.options;
  auto config = std::make_unique<DeadLetterConfig>();
  config->path = o.path("path");
  if (config->path.empty()) o.error("path", "must name a file");
  if (o.string("format") == "openai_batch") config->format = DeadLetterFormat::openai_batch;  // the reader checked it
  config->flush = read_flush_policy(o);
  return config;
}

}  // namespace

NodeKind dead_letter_kind() {
  NodeKind k;
  k.table = "dead_letters";
  k.name = "dead letter";
  k.summary = "writes items that could not succeed, with their reason, as JSON lines";
  k.keys = {{"path", KeyKind::path, true, "", "the JSONL file to write"},
            {"format",
             KeyKind::string,
             false,
             "flowbatch",
             "flowbatch (full records) or openai_batch (the Batch API's error-file lines)",
             {"flowbatch", "openai_batch"}}};
  k.keys.insert(k.keys.end(), flush_keys().begin(), flush_keys().end());
  k.accepts = {PortKind::failed, PortKind::invalid};
  k.terminal = true;
  k.parse = parse_dead_letter;
  k.build = [](const NodeConfig& c, BuildContext& context) -> std::unique_ptr<NodeRuntime> {
    const auto& config = static_cast<const DeadLetterConfig&>(c);
    std::shared_ptr<const RecordEncoder> encoder;
    if (config.format == DeadLetterFormat::openai_batch) encoder = std::make_shared<OpenAiBatchErrorEncoder>();
    else encoder = std::make_shared<DeadLetterEncoder>(context.run.source_names);
    auto open = [path = config.path, encoder](std::uint64_t resume_at) {
      return open_file_writer(path, encoder, resume_at);
    };
    return std::make_unique<WriterNode>(context, open, config.flush, Ending::dead_letter, display_path(config.path));
  };
  return k;
}

}  // namespace flowbatch

// type = "openai_batch": OpenAI Batch API input lines, {"custom_id", "method", "url", "body"}, so a
// file prepared for the Batch API runs unchanged, in real time, against any compatible server.
// Items keep those four fields; custom_id is the id.
#include <fmt/format.h>

#include "engine/core/paths.h"
#include "nodes/kinds.h"
#include "nodes/sources/line_records.h"

namespace flowbatch {
namespace {

class OpenAiBatchSource final : public Source {
 public:
  OpenAiBatchSource(std::filesystem::path path, std::uint64_t max_line_bytes)
      : path_(std::move(path)), overlong_(std::make_shared<OverlongLines>(max_line_bytes)) {}

  std::unique_ptr<SourceReader> open() override { return std::make_unique<LineRecordReader>(path_, overlong_); }

  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override {
    if (auto overlong = overlong_->reason(record.line)) return overlong;
    if (auto bad = decode_json_object(record, fields)) return bad;
    const auto* id = fields.if_contains("custom_id");
    if (!id || !id->is_string() || id->get_string().empty())
      return "a batch line needs a non-empty string \"custom_id\"";
    const auto* method = fields.if_contains("method");
    if (method && (!method->is_string() || method->get_string() != "POST"))
      return "\"method\" must be \"POST\" (the only method the Batch API takes)";
    const auto* url = fields.if_contains("url");
    if (!url || !url->is_string() || !url->get_string().starts_with("/"))
      return "a batch line needs a \"url\" such as \"/v1/chat/completions\"";
    const auto* body = fields.if_contains("body");
    if (!body || !body->is_object()) return "a batch line needs a \"body\" object";
    return std::nullopt;
  }

  std::string default_id_field() const override { return "custom_id"; }
  std::optional<std::uint64_t> count_records() const override { return count_nonblank_lines(path_); }
  std::string describe() const override { return display_path(path_); }

 private:
  std::filesystem::path path_;
  std::shared_ptr<OverlongLines> overlong_;
};

}  // namespace

void register_openai_batch_source(Registry& registry) {
  registry.add(SourceType{
      "openai_batch",
      "OpenAI Batch API input lines: {custom_id, method, url, body}",
      {{"path", KeyKind::path, true, "", "the batch input file"}, max_line_bytes_key()},
      [](Options& o) -> std::unique_ptr<Source> {
        const auto path = o.path("path");
        if (o.check_environment() && !path.empty())
          if (auto why = why_unreadable(path)) o.error("path", *why);
        return std::make_unique<OpenAiBatchSource>(path, read_max_line_bytes(o));
      },
  });
}

}  // namespace flowbatch

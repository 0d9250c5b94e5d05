// type = "jsonl": one JSON object per line; blank lines are skipped.
#include "engine/core/paths.h"
#include "nodes/kinds.h"
#include "nodes/sources/line_records.h"

namespace flowbatch {
namespace {

class JsonlSource final : public Source {
 public:
  JsonlSource(std::filesystem::path path, std::uint64_t max_line_bytes, bool follow)
      : path_(std::move(path)), overlong_(std::make_shared<OverlongLines>(max_line_bytes)), follow_(follow) {}

  std::unique_ptr<SourceReader> open() override {
    if (follow_) return std::make_unique<FollowedLineRecordReader>(path_, overlong_);
    return std::make_unique<LineRecordReader>(path_, overlong_);
  }
  std::unique_ptr<SourceReader> resume(const std::vector<FollowedFile>& earlier,
                                       std::uint64_t first_free_line) override {
    if (!follow_) return open();
    return std::make_unique<FollowedLineRecordReader>(path_, overlong_, earlier, first_free_line);
  }
  bool follows() const override { return follow_; }
  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override {
    if (auto overlong = overlong_->reason(record.line)) return overlong;
    return decode_json_object(record, fields);
  }
  std::optional<std::uint64_t> count_records() const override {
    if (follow_) return std::nullopt;  // no end to count to
    return count_nonblank_lines(path_);
  }
  std::string describe() const override { return display_path(path_); }

 private:
  std::filesystem::path path_;
  std::shared_ptr<OverlongLines> overlong_;
  bool follow_;
};

}  // namespace

void register_jsonl_source(Registry& registry) {
  registry.add(SourceType{
      "jsonl",
      "one JSON object per line",
      {{"path", KeyKind::path, true, "", "the file to read"},
       max_line_bytes_key(),
       {"follow", KeyKind::boolean, false, "false",
        "read lines as they are appended (like tail -F, surviving rotation and truncation) until the run is drained"}},
      [](Options& o) -> std::unique_ptr<Source> {
        const auto path = o.path("path");
        if (o.check_environment() && !path.empty())
          if (auto why = why_unreadable(path)) o.error("path", *why);
        return std::make_unique<JsonlSource>(path, read_max_line_bytes(o), o.boolean("follow"));
      },
  });
}

}  // namespace flowbatch

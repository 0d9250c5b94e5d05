// type = "jsonl": one JSON object per line; blank lines are skipped.
#include "engine/core/paths.h"
#include "nodes/kinds.h"
#include "nodes/sources/line_records.h"

namespace flowbatch {
namespace {

class JsonlSource final : public Source {
 public:
  explicit JsonlSource(std::filesystem::path path) : path_(std::move(path)) {}

  std::unique_ptr<SourceReader> open() override { return std::make_unique<LineRecordReader>(path_); }
  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override {
    return decode_json_object(record, fields);
  }
  std::optional<std::uint64_t> count_records() const override { return count_nonblank_lines(path_); }
  std::string describe() const override { return display_path(path_); }

 private:
  std::filesystem::path path_;
};

}  // namespace

void register_jsonl_source(Registry& registry) {
  registry.add(SourceType{
      "jsonl",
      "one JSON object per line",
      {{"path", KeyKind::path, true, "", "the file to read"}},
      [](Options& o) -> std::unique_ptr<Source> {
        const auto path = o.path("path");
        if (o.check_environment() && !path.empty())
          if (auto why = why_unreadable(path)) o.error("path", *why);
        return std::make_unique<JsonlSource>(path);
      },
  });
}

}  // namespace flowbatch

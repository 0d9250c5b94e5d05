// type = "jsonl": one JSON object per line; blank lines are skipped.
#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include "engine/io/line_reader.h"
#include "engine/core/text.h"
#include "engine/core/paths.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

class JsonlReader final : public SourceReader {
 public:
  explicit JsonlReader(const std::filesystem::path& path) : lines_(path) {}

  bool read(std::vector<Record>& out, std::size_t max) override {
    std::string text;
    std::uint64_t line = 0;
    while (out.size() < max) {
      if (!lines_.next(text, line)) return false;
      if (trim(text).empty()) continue;
      out.push_back(Record{line, std::move(text)});
    }
    return true;
  }

 private:
  LineReader lines_;
};

class JsonlSource final : public Source {
 public:
  explicit JsonlSource(std::filesystem::path path) : path_(std::move(path)) {}

  std::unique_ptr<SourceReader> open() override { return std::make_unique<JsonlReader>(path_); }

  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(record.text, ec);
    if (ec) return fmt::format("not valid JSON ({})", ec.message());
    if (!v.is_object()) return fmt::format("expected a JSON object, found {}", kind_name(v));
    fields = std::move(v.get_object());
    return std::nullopt;
  }

  std::optional<std::uint64_t> count_records() const override { return count_nonblank_lines(path_); }
  std::string describe() const override { return display_path(path_); }

 private:
  static std::string_view kind_name(const boost::json::value& v) {
    switch (v.kind()) {
      case boost::json::kind::array: return "an array";
      case boost::json::kind::string: return "a string";
      case boost::json::kind::null: return "null";
      case boost::json::kind::bool_: return "a boolean";
      default: return "a number";
    }
  }

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

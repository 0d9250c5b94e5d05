// type = "csv": one row per item under a header row; the columns are `columns`, or the fields
// of the first item written. Values that are not strings are written as JSON.
#include <boost/json/serialize.hpp>

#include "engine/core/paths.h"
#include "engine/core/template.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

struct CsvFormat {
  char delimiter = ',';
  bool safe = false;  // neutralise cells a spreadsheet would take for a formula
};

/// A cell a spreadsheet would run as a formula ("=HYPERLINK(...)", "+1", "-1+2", "@SUM"; a tab or
/// CR first also starts one in some) gets a leading apostrophe, which makes it text.
bool looks_like_formula(std::string_view value) {
  return !value.empty() && std::string_view("=+-@\t\r").find(value.front()) != std::string_view::npos;
}

void append_csv_field(std::string_view value, char delimiter, std::string& out) {
  const bool quote = value.find_first_of(std::string{delimiter, '"', '\n', '\r'}) != std::string_view::npos;
  if (!quote) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

class CsvEncoder final : public RecordEncoder {
 public:
  CsvEncoder(std::vector<std::string> columns, CsvFormat format)
      : columns_(std::move(columns)), delimiter_(format.delimiter), safe_(format.safe) {}

  std::string header(const Item& first) const override {
    if (columns_.empty()) {
      columns_.push_back("id");
      for (const auto& kv : first.fields)
        if (kv.key() != "id") columns_.emplace_back(kv.key());
    }
    std::string out;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i) out += delimiter_;
      append_cell(columns_[i], out);
    }
    out += '\n';
    return out;
  }

  void encode(const Item& item, std::string& out) const override {
    std::string text;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i) out += delimiter_;
      text.clear();
      if (const boost::json::value* v = item.find(columns_[i])) append_as_text(*v, text);
      else if (columns_[i] == "id") text = item.id;
      append_cell(text, out);
    }
    out += '\n';
  }

 private:
  void append_cell(std::string_view text, std::string& out) const {
    if (safe_ && looks_like_formula(text)) return append_csv_field("'" + std::string(text), delimiter_, out);
    append_csv_field(text, delimiter_, out);
  }

  // Filled from the first item when not configured; one encoder serves one writer (serial).
  mutable std::vector<std::string> columns_;
  char delimiter_;
  bool safe_;
};

class CsvSink final : public Sink {
 public:
  CsvSink(std::filesystem::path path, std::vector<std::string> columns, CsvFormat format)
      : path_(std::move(path)), columns_(std::move(columns)), format_(format) {}
  std::unique_ptr<SinkWriter> open(std::uint64_t resume_at) override {
    return open_file_writer(path_, std::make_shared<CsvEncoder>(columns_, format_), resume_at);
  }
  std::string describe() const override { return display_path(path_); }

 private:
  std::filesystem::path path_;
  std::vector<std::string> columns_;
  CsvFormat format_;
};

}  // namespace

void register_csv_sink(Registry& registry) {
  registry.add(SinkType{
      "csv",
      "comma-separated values with a header row",
      {{"path", KeyKind::path, true, "", "the file to write (its folder is created)"},
       {"columns", KeyKind::string_list, false, "",
        "the columns, in order (default: id, then the first item's fields)"},
       {"delimiter", KeyKind::string, false, ",", "the field separator (one character)"},
       {"csv_safe", KeyKind::boolean, false, "false",
        "prefix cells starting with =, +, -, @ (or a tab or CR) with ' so spreadsheets read them as text, not "
        "formulas"}},
      [](Options& o) -> std::unique_ptr<Sink> {
        const std::string delimiter = o.string("delimiter");
        if (delimiter.size() != 1) o.error("delimiter", "must be exactly one character");
        const CsvFormat format{delimiter.empty() ? ',' : delimiter.front(), o.boolean("csv_safe")};
        return std::make_unique<CsvSink>(o.path("path"), o.strings("columns"), format);
      },
  });
}

}  // namespace flowbatch

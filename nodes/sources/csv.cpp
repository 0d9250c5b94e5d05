// type = "csv": RFC 4180 comma-separated values with a header row naming the fields; quoted
// fields may hold delimiters, doubled quotes and line breaks. Every value is a string.
#include <fmt/format.h>

#include "engine/core/paths.h"
#include "engine/core/text.h"
#include "engine/io/line_reader.h"
#include "nodes/kinds.h"
#include "nodes/sources/line_records.h"

namespace flowbatch {
namespace {

/// Splits one record into fields; returns false when a quote is left open.
bool split_csv(std::string_view record, char delimiter, std::vector<std::string>& fields) {
  fields.clear();
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < record.size(); ++i) {
    const char c = record[i];
    if (quoted) {
      if (c == '"' && i + 1 < record.size() && record[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == delimiter) {
      fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else {
      field += c;
    }
  }
  if (quoted) return false;
  fields.push_back(std::move(field));
  return true;
}

/// Whether `text` leaves a quoted field open (so the record continues on the next line): an odd
/// number of quotes, since a doubled quote inside a field counts two.
bool open_quote(std::string_view text) {
  bool quoted = false;
  for (char c : text)
    if (c == '"') quoted = !quoted;
  return quoted;
}

class CsvReader final : public SourceReader {
 public:
  CsvReader(const std::filesystem::path& path, std::vector<std::string>& header, char delimiter,
            std::shared_ptr<OverlongLines> overlong)
      : lines_(path, overlong->max_line_bytes()), overlong_(std::move(overlong)) {
    Record first;
    if (next_record(first)) {
      if (overlong_->reason(first.line))
        throw std::runtime_error(path.string() + ": the header row is longer than max_line_bytes");
      if (!split_csv(first.text, delimiter, header))
        throw std::runtime_error(path.string() + ": the header row has an unclosed quote");
    }
  }

  bool read(std::vector<Record>& out, std::size_t max) override {
    while (out.size() < max) {
      Record r;
      if (!next_record(r)) return false;
      if (r.text.empty()) continue;
      out.push_back(std::move(r));
    }
    return true;
  }

  std::optional<std::string> input_changed() const override { return lines_.changed_while_read(); }

 private:
  /// One logical record: physical lines joined while a quoted field stays open. Only each new
  /// line's quotes are counted: rescanning the whole record per line made an unclosed quote
  /// early in a large file quadratic (hours for a few megabytes).
  /// A record is bounded as a line is: one longer than max_line_bytes (a line cut short, or
  /// lines joined past it by a quote left open) ends there and is reported invalid.
  bool next_record(Record& r) {
    std::string line;
    std::uint64_t number = 0;
    if (!lines_.next(line, number)) return false;
    r.line = number;
    r.text = std::move(line);
    bool quoted = open_quote(r.text);
    bool too_long = lines_.cut_short();
    while (quoted && !too_long && lines_.next(line, number)) {
      r.text += '\n';
      r.text += line;
      if (open_quote(line)) quoted = !quoted;
      too_long = lines_.cut_short() || r.text.size() > overlong_->max_line_bytes();
    }
    if (too_long) {
      overlong_->add(r.line);
      r.text.resize(std::min(r.text.size(), LineReader::kOverlongHead));
    }
    return true;
  }

  LineReader lines_;
  std::shared_ptr<OverlongLines> overlong_;
};

class CsvSource final : public Source {
 public:
  CsvSource(std::filesystem::path path, char delimiter, std::uint64_t max_line_bytes)
      : path_(std::move(path)), delimiter_(delimiter), overlong_(std::make_shared<OverlongLines>(max_line_bytes)) {}

  std::unique_ptr<SourceReader> open() override {
    return std::make_unique<CsvReader>(path_, header_, delimiter_, overlong_);
  }

  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override {
    if (auto overlong = overlong_->reason(record.line)) return overlong;
    std::vector<std::string> values;
    if (!is_valid_utf8(record.text)) return "not valid UTF-8 text (the record is kept as raw_base64)";
    if (!split_csv(record.text, delimiter_, values)) return "unclosed quote";
    if (values.size() != header_.size())
      return fmt::format("expected {} fields (as in the header), found {}", header_.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) fields[header_[i]] = values[i];
    return std::nullopt;
  }

  std::optional<std::uint64_t> count_records() const override {
    const auto lines = count_nonblank_lines(path_);
    return lines > 0 ? lines - 1 : 0;  // an estimate when quoted fields span lines
  }
  std::string describe() const override { return display_path(path_); }

 private:
  std::filesystem::path path_;
  char delimiter_;
  std::vector<std::string> header_;  // set by open(), before any decode()
  std::shared_ptr<OverlongLines> overlong_;
};

}  // namespace

void register_csv_source(Registry& registry) {
  registry.add(SourceType{
      "csv",
      "comma-separated values with a header row",
      {{"path", KeyKind::path, true, "", "the file to read"},
       {"delimiter", KeyKind::string, false, ",", "the field separator (one character)"},
       max_line_bytes_key()},
      [](Options& o) -> std::unique_ptr<Source> {
        const auto path = o.path("path");
        const std::string delimiter = o.string("delimiter");
        if (delimiter.size() != 1) o.error("delimiter", "must be exactly one character");
        if (o.check_environment() && !path.empty())
          if (auto why = why_unreadable(path)) o.error("path", *why);
        return std::make_unique<CsvSource>(path, delimiter.empty() ? ',' : delimiter.front(), read_max_line_bytes(o));
      },
  });
}

}  // namespace flowbatch

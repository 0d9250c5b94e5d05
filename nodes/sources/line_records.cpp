#include "nodes/sources/line_records.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>

#include "engine/core/text.h"

namespace flowbatch {

KeySpec max_line_bytes_key() {
  return {"max_line_bytes", KeyKind::integer, false, "16777216",
          "a longer line goes to the `invalid` port (with its first KiB) and is never held whole in memory"};
}

std::uint64_t read_max_line_bytes(Options& options) {
  const std::int64_t max = options.integer("max_line_bytes");
  if (max < 1) options.error("max_line_bytes", "must be at least 1");
  return max < 1 ? 1 : static_cast<std::uint64_t>(max);
}

void OverlongLines::add(std::uint64_t line) {
  std::lock_guard lock(mutex_);
  lines_.insert(line);
}

std::optional<std::string> OverlongLines::reason(std::uint64_t line) const {
  std::lock_guard lock(mutex_);
  if (!lines_.count(line)) return std::nullopt;
  return fmt::format("longer than max_line_bytes ({} bytes); only its start is kept", max_line_bytes_);
}

namespace {
/// Up to `max` records from the non-blank lines of `lines` (a LineReader or a FollowReader); false
/// once it has no more now.
template <class Lines>
bool read_line_records(Lines& lines, OverlongLines& overlong, std::vector<Record>& out, std::size_t max) {
  std::uint64_t line = 0;
  while (out.size() < max) {
    std::string text;  // a new one each time: the last one moved into its record
    if (!lines.next(text, line)) return false;
    if (lines.cut_short()) overlong.add(line);
    else if (is_blank_line(text)) continue;  // as count_nonblank_lines counts them
    out.push_back(Record{line, std::move(text)});
  }
  return true;
}
}  // namespace

bool LineRecordReader::read(std::vector<Record>& out, std::size_t max) {
  return read_line_records(lines_, *overlong_, out, max);
}

/// Never exhausted: a file followed goes on, whatever it holds now.
bool FollowedLineRecordReader::read(std::vector<Record>& out, std::size_t max) {
  read_line_records(lines_, *overlong_, out, max);
  return true;
}

namespace {
std::string_view kind_name(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::array: return "an array";
    case boost::json::kind::string: return "a string";
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "a boolean";
    default: return "a number";
  }
}
}  // namespace

std::optional<std::string> decode_json_object(const Record& record, boost::json::object& fields) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(record.text, ec);
  if (ec && !is_valid_utf8(record.text)) return "not valid UTF-8 text (the record is kept as raw_base64)";
  if (ec) return fmt::format("not valid JSON ({})", ec.message());
  if (!v.is_object()) return fmt::format("expected a JSON object, found {}", kind_name(v));
  fields = std::move(v.get_object());
  return std::nullopt;
}

}  // namespace flowbatch

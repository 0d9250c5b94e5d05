#include "nodes/replay_source.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "engine/core/paths.h"
#include "engine/core/text.h"
#include "engine/io/line_reader.h"

namespace flowbatch {
namespace {

/// Marks a record that carries an item's fields (as JSON) rather than an undecoded input line:
/// the ASCII record separator, which starts JSON texts in RFC 7464 and no input line.
constexpr char kFieldsMark = '\x1e';

/// The undecodable record a dead letter kept in base64 (it was not UTF-8), byte for byte.
std::optional<std::string> raw_base64(const boost::json::object& record) {
  const auto* encoded = record.if_contains("raw_base64");
  if (!encoded || !encoded->is_string()) return std::nullopt;
  return base64_decode(encoded->get_string());
}

class ReplayReader final : public SourceReader {
 public:
  ReplayReader(const std::filesystem::path& file, std::string source, bool only_named)
      : lines_(file), source_(std::move(source)), only_named_(only_named) {}

  bool read(std::vector<Record>& out, std::size_t max) override {
    std::string text;
    std::uint64_t line = 0;
    while (out.size() < max) {
      if (!lines_.next(text, line)) return false;
      boost::system::error_code ec;
      const boost::json::value v = boost::json::parse(text, ec);
      const auto* record = v.if_object();
      if (ec || !record) {
        out.push_back(Record{line, std::move(text)});  // not a dead-letter record: decoded (and rejected) as is
        continue;
      }
      if (!belongs_here(*record)) continue;
      // Keep the record's original line: it is the id when the source has no id field.
      if (const auto* original = record->if_contains("line"); original && original->is_int64())
        line = static_cast<std::uint64_t>(original->get_int64());
      if (const auto* input = record->if_contains("input"); input && input->is_object())
        out.push_back(Record{line, kFieldsMark + boost::json::serialize(*input)});
      else if (const auto* raw = record->if_contains("raw"); raw && raw->is_string())
        out.push_back(Record{line, std::string(raw->get_string())});
      else if (auto bytes = raw_base64(*record))
        out.push_back(Record{line, std::move(*bytes)});
      else
        out.push_back(Record{line, std::move(text)});
    }
    return true;
  }

 private:
  bool belongs_here(const boost::json::object& record) const {
    const auto* source = record.if_contains("source");
    if (source && source->is_string()) return source->get_string() == source_;
    return !only_named_;  // a record without a source: only a graph with one source can take it
  }

  LineReader lines_;
  std::string source_;
  bool only_named_;
};

class ReplaySource final : public Source {
 public:
  ReplaySource(std::filesystem::path file, std::string name, bool only_named, std::unique_ptr<Source> original)
      : file_(std::move(file)), name_(std::move(name)), only_named_(only_named), original_(std::move(original)) {}

  std::unique_ptr<SourceReader> open() override {
    // Opening the original prepares its decoder (a CSV header); replaying "input" records does
    // not need it, so an original that is gone is no reason to stop.
    try {
      original_->open();
    } catch (const std::exception&) {
    }
    return std::make_unique<ReplayReader>(file_, name_, only_named_);
  }

  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override {
    if (record.text.empty() || record.text.front() != kFieldsMark) return original_->decode(record, fields);
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(std::string_view(record.text).substr(1), ec);
    if (ec || !v.is_object()) return "a replayed input is not a JSON object";
    fields = std::move(v.get_object());
    return std::nullopt;
  }

  std::string default_id_field() const override { return original_->default_id_field(); }
  std::string describe() const override { return fmt::format("replay of {}", display_path(file_)); }

 private:
  std::filesystem::path file_;
  std::string name_;
  bool only_named_;
  std::unique_ptr<Source> original_;
};

}  // namespace

std::unique_ptr<Source> make_replay_source(std::filesystem::path dead_letters, std::string source_name, bool only_named_records,
                                           std::unique_ptr<Source> original) {
  return std::make_unique<ReplaySource>(std::move(dead_letters), std::move(source_name), only_named_records, std::move(original));
}

}  // namespace flowbatch

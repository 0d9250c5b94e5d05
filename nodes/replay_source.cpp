#include "nodes/replay_source.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "engine/core/paths.h"
#include "engine/core/text.h"
#include "engine/io/line_reader.h"

namespace flowbatch {
namespace {

/// Marks a record that is a whole dead-letter line (rather than a line of the source's own
/// format): the ASCII record separator, which starts JSON texts in RFC 7464 and no input line.
constexpr char kDeadLetterMark = '\x1e';

/// The dead-letter record a replay record carries, or nothing.
std::optional<boost::json::object> dead_letter_of(const Record& record) {
  if (record.text.empty() || record.text.front() != kDeadLetterMark) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(std::string_view(record.text).substr(1), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

/// The undecoded bytes a dead letter kept (as text, or in base64 when they were not UTF-8).
std::optional<std::string> raw_bytes(const boost::json::object& record) {
  if (const auto* raw = record.if_contains("raw"); raw && raw->is_string()) return std::string(raw->get_string());
  if (const auto* encoded = record.if_contains("raw_base64"); encoded && encoded->is_string())
    return base64_decode(encoded->get_string());
  return std::nullopt;
}

std::uint64_t original_line(const boost::json::object& record, std::uint64_t fallback) {
  if (const auto* line = record.if_contains("line"); line && line->is_int64() && line->get_int64() > 0)
    return static_cast<std::uint64_t>(line->get_int64());
  return fallback;
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
      if (trim(text).empty()) continue;
      boost::system::error_code ec;
      const boost::json::value v = boost::json::parse(text, ec);
      const auto* record = v.if_object();
      if (ec || !record) {
        out.push_back(Record{line, std::move(text)});  // not a dead-letter record: decoded (and rejected) as is
        continue;
      }
      if (!belongs_here(*record)) continue;
      out.push_back(Record{line, kDeadLetterMark + text});
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
    } catch (const std::exception&) {}
    return std::make_unique<ReplayReader>(file_, name_, only_named_);
  }

  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override {
    const auto dead = dead_letter_of(record);
    if (!dead) return original_->decode(record, fields);
    if (const auto* input = dead->if_contains("input"); input && input->is_object()) {
      fields = input->get_object();
      return std::nullopt;
    }
    if (auto raw = raw_bytes(*dead))
      return original_->decode(Record{original_line(*dead, record.line), std::move(*raw)}, fields);
    return "a dead-letter record without \"input\", \"raw\" or \"raw_base64\"";
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

std::unique_ptr<Source> make_replay_source(std::filesystem::path dead_letters, std::string source_name,
                                           bool only_named_records, std::unique_ptr<Source> original) {
  return std::make_unique<ReplaySource>(std::move(dead_letters), std::move(source_name), only_named_records,
                                        std::move(original));
}

std::optional<ReplayOrigin> replay_origin(const Record& record) {
  const auto dead = dead_letter_of(record);
  if (!dead) return std::nullopt;
  ReplayOrigin origin;
  origin.line = original_line(*dead, record.line);
  if (auto raw = raw_bytes(*dead)) origin.raw = std::move(*raw);
  else if (const auto* input = dead->if_contains("input")) origin.raw = boost::json::serialize(*input);
  return origin;
}

}  // namespace flowbatch

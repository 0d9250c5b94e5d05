#pragma once
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>

#include "engine/io/follow_reader.h"
#include "engine/io/line_reader.h"
#include "flowbatch/options.h"
#include "flowbatch/source.h"

namespace flowbatch {

/// The key every line-based source has, bounding the memory one line may take.
KeySpec max_line_bytes_key();
/// Reads it (at least 1), reporting a bad value.
std::uint64_t read_max_line_bytes(Options& options);

/// The lines a reader cut short for being longer than max_line_bytes. The reader notes them; the
/// source's decode() (on a worker thread) reports those records invalid, by line number. Rare,
/// so a set under a lock.
class OverlongLines {
 public:
  explicit OverlongLines(std::uint64_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}
  std::uint64_t max_line_bytes() const { return max_line_bytes_; }
  void add(std::uint64_t line);
  /// Why the record at `line` is invalid, if it was cut short.
  std::optional<std::string> reason(std::uint64_t line) const;

 private:
  std::uint64_t max_line_bytes_;
  mutable std::mutex mutex_;
  std::set<std::uint64_t> lines_;
};

/// Reads a file's non-blank lines as records (JSON Lines and formats built on it).
class LineRecordReader final : public SourceReader {
 public:
  LineRecordReader(const std::filesystem::path& path, std::shared_ptr<OverlongLines> overlong)
      : lines_(path, overlong->max_line_bytes()), overlong_(std::move(overlong)) {}
  bool read(std::vector<Record>& out, std::size_t max) override;
  std::optional<std::string> input_changed() const override { return lines_.changed_while_read(); }

 private:
  LineReader lines_;
  std::shared_ptr<OverlongLines> overlong_;
};

/// Reads the non-blank lines of a followed file (FollowReader) as records: never exhausted.
class FollowedLineRecordReader final : public SourceReader {
 public:
  FollowedLineRecordReader(const std::filesystem::path& path, std::shared_ptr<OverlongLines> overlong,
                           std::vector<FollowedFile> earlier = {}, std::uint64_t first_free_line = 1)
      : lines_(path, overlong->max_line_bytes(), std::move(earlier), first_free_line), overlong_(std::move(overlong)) {}
  bool read(std::vector<Record>& out, std::size_t max) override;
  std::vector<FollowedFile> began_files() override { return lines_.take_began_files(); }
  std::vector<FollowedFile> forgettable_files() override { return lines_.take_forgettable_files(); }
  std::optional<SourceLag> lag() override { return SourceLag{lines_.lag_bytes(), "bytes", std::nullopt}; }
  std::vector<std::string> take_notes() override { return lines_.take_notes(); }

 private:
  FollowReader lines_;
  std::shared_ptr<OverlongLines> overlong_;
};

/// Parses a record as one JSON object into `fields`; the reason when it is not one.
std::optional<std::string> decode_json_object(const Record& record, boost::json::object& fields);

}  // namespace flowbatch

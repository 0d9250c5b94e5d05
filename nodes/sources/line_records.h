#pragma once
#include <filesystem>

#include "engine/io/line_reader.h"
#include "flowbatch/source.h"

namespace flowbatch {

/// Reads a file's non-blank lines as records (JSON Lines and formats built on it).
class LineRecordReader final : public SourceReader {
 public:
  explicit LineRecordReader(const std::filesystem::path& path) : lines_(path) {}
  bool read(std::vector<Record>& out, std::size_t max) override;
  std::optional<std::string> input_changed() const override { return lines_.changed_while_read(); }

 private:
  LineReader lines_;
};

/// Parses a record as one JSON object into `fields`; the reason when it is not one.
std::optional<std::string> decode_json_object(const Record& record, boost::json::object& fields);

}  // namespace flowbatch

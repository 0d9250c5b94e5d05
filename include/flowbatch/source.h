#pragma once
#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace flowbatch {

/// One undecoded input record and where it came from.
struct Record {
  std::uint64_t line = 0;  ///< 1-based line of the record's first line in its file
  std::string text;
};

/// Reads records lazily, a chunk at a time. Called from one thread at a time; reading must not
/// wait on anything slower than a local disk.
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  /// Appends at most `max` records to `out`. Returns false once the input is exhausted
  /// (records appended in that same call still count).
  virtual bool read(std::vector<Record>& out, std::size_t max) = 0;
  /// Once read() returned false: how the input changed while it was read (a file cut short, or
  /// appended to after its end was reached), for a warning; nothing when it did not or cannot tell.
  virtual std::optional<std::string> input_changed() const { return std::nullopt; }
};

/// A configured source type (one per [sources.NAME] table).
class Source {
 public:
  virtual ~Source() = default;
  /// Opens the input for reading. Throws std::runtime_error (naming the file) when it cannot.
  virtual std::unique_ptr<SourceReader> open() = 0;
  /// Decodes one record into item fields. Called concurrently from worker threads, after open().
  /// Returns the reason when the record is invalid; it then goes to the source's `invalid` port.
  virtual std::optional<std::string> decode(const Record& record, boost::json::object& fields) const = 0;
  /// The field that names a record when the graph sets no `id_field` ("": the line number).
  virtual std::string default_id_field() const { return {}; }
  /// The number of records when cheap to know (for progress and ETA).
  virtual std::optional<std::uint64_t> count_records() const { return std::nullopt; }
  /// Where the records come from, for graph dumps and the summary.
  virtual std::string describe() const = 0;
};

}  // namespace flowbatch

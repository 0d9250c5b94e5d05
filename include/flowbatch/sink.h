#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "flowbatch/item.h"
#include "flowbatch/source.h"

namespace flowbatch {

/// Writes items to one destination.
///
/// Durability contract: write() may buffer. write_out() hands everything written so far to the
/// destination (visible to readers) and returns a position that identifies exactly that prefix of
/// the output (a byte offset, a row count). sync() makes everything handed out so far durable
/// (fsync). A later open() with a synced position as `resume_at` discards whatever followed it,
/// so a killed run never leaves half-written or duplicated records behind.
///
/// write() and write_out() are called from one thread at a time; sync() may run on another
/// thread at the same time as write() (the engine syncs off the data path). I/O failures throw
/// std::runtime_error naming the destination; the run then stops with a fatal error, and running
/// it again resumes from the last commit.
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  virtual void write(const Item& item) = 0;
  virtual std::uint64_t write_out() = 0;
  virtual void sync() = 0;
  /// Where it writes, named as Acknowledger::store() names a queue's store ("" for nowhere a
  /// queue-like source can be acknowledged).
  virtual std::string store() const { return {}; }
  /// Called once, before any write, when a queue-like source of the run acknowledges its records in
  /// store(): from then on write_out() only stages what it hands out, and each sync_with() makes the
  /// oldest write_out()'s writes durable in one transaction with `acknowledgements` (the records
  /// that commit completes), so a result is stored if and only if its record is acknowledged. Returns
  /// false when the writer cannot (the acknowledgements then follow the commit, as for other sinks).
  virtual bool join_acknowledgements() { return false; }
  /// After join_acknowledgements(): sync(), with the acknowledgements in the same transaction. A
  /// failure leaves none of it done, and throws.
  virtual void sync_with(const std::vector<Acknowledgement>& acknowledgements) {
    (void)acknowledgements;
    sync();
  }
  /// Both: what is written so far is out and durable.
  std::uint64_t flush() {
    const std::uint64_t position = write_out();
    sync();
    return position;
  }
};

/// As `resume_at`: keep whatever the destination holds and add after it (flowbatch replay).
inline constexpr std::uint64_t kAppend = ~std::uint64_t{0};

/// A configured sink type (one per [sinks.NAME] or [dead_letters.NAME] table).
class Sink {
 public:
  virtual ~Sink() = default;
  /// Opens the destination; `resume_at` is the last committed position (0: start afresh;
  /// kAppend: after whatever is there).
  virtual std::unique_ptr<SinkWriter> open(std::uint64_t resume_at) = 0;
  /// Where items go, for graph dumps and the summary.
  virtual std::string describe() const = 0;
};

/// Turns items into bytes, for sinks that write a file or a stream. Must be thread-compatible:
/// one encoder serves one writer.
class RecordEncoder {
 public:
  virtual ~RecordEncoder() = default;
  /// Written once, before the first record of a new file (a CSV header); `first` is that first
  /// record. Empty for none.
  virtual std::string header(const Item& first) const {
    (void)first;
    return {};
  }
  /// Appends one encoded record (with its line terminator) to `out`.
  virtual void encode(const Item& item, std::string& out) const = 0;
};

/// A SinkWriter for a local file honouring the durability contract above (provided by the engine).
/// Creates parent folders. The position it returns is a byte offset.
std::unique_ptr<SinkWriter> open_file_writer(const std::filesystem::path& path,
                                             std::shared_ptr<const RecordEncoder> encoder, std::uint64_t resume_at);

/// A SinkWriter for standard output (positions count records; nothing can be taken back).
std::unique_ptr<SinkWriter> open_stdout_writer(std::shared_ptr<const RecordEncoder> encoder);

}  // namespace flowbatch

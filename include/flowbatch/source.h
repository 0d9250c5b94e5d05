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

/// One file a followed file source read or reads (the path's file, or one rotated away from it):
/// which file it is, and where its lines' numbers start. A followed source numbers its lines across
/// files, so a record's number stays its own after a rotation: a file's line n is line_base + n.
struct FollowedFile {
  std::uint64_t device = 0, inode = 0;
  std::uint64_t line_base = 0;
  bool operator==(const FollowedFile&) const = default;
};

/// How far a followed input is ahead of its reader: `count` of `unit` there not read yet ("bytes" of
/// a file; "entries" of a stream not yet delivered to its group; "rows" of a table not yet claimed),
/// and, when the input tells, `unacknowledged`: those read (by this worker or another sharing the
/// input) and not acknowledged yet, which the input calls `unacknowledged_name` ("pending" in a
/// stream's group, "claimed" rows in a table).
struct SourceLag {
  std::uint64_t count = 0;
  std::string unit;
  std::optional<std::uint64_t> unacknowledged;
  std::string unacknowledged_name = "pending";
  bool operator==(const SourceLag&) const = default;
};

/// Reads records lazily, a chunk at a time. Called from one thread at a time; reading must not
/// wait on anything slower than a local disk.
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  /// Appends at most `max` records to `out`. Returns false once the input is exhausted
  /// (records appended in that same call still count). A followed source (Source::follows())
  /// returns true with nothing appended when nothing new has arrived yet, and never waits for it:
  /// the engine asks again a little later. Its failures to reach the input (a server down) are
  /// warned about and retried, not fatal.
  virtual bool read(std::vector<Record>& out, std::size_t max) = 0;
  /// Once read() returned false: how the input changed while it was read (a file cut short, or
  /// appended to after its end was reached), for a warning; nothing when it did not or cannot tell.
  virtual std::optional<std::string> input_changed() const { return std::nullopt; }
  /// A followed file's reader: the files it began reading since last asked (the first one, then
  /// one per rotation or truncation). The engine records them in the run's state before the records
  /// read with them go on, so a resumed run can find the numbers again.
  virtual std::vector<FollowedFile> began_files() { return {}; }
  /// A followed file's reader: files it (or an earlier run) began that the state need not keep any
  /// more, since no resumed run could read them again: gone from disk, or an earlier beginning of a
  /// file truncated since. The engine drops them from the run's state.
  virtual std::vector<FollowedFile> forgettable_files() { return {}; }
  /// A followed input: how far ahead of the reader it is, for progress and metrics; nothing when
  /// unknown. The engine asks about once a second (never per read, never while read() runs),
  /// from a thread that may wait as read() may: a reader may ask its server here, in one short
  /// round trip on the connection it reads with. A failure means "unknown" (nothing, or a throw).
  /// By default, lag_bytes() in bytes.
  virtual std::optional<SourceLag> lag() {
    if (const auto bytes = lag_bytes()) return SourceLag{*bytes, "bytes", std::nullopt};
    return std::nullopt;
  }
  /// Before plugin API version 7, a followed input's lag in bytes; kept so that plugins overriding
  /// it still build and report. New readers override lag().
  virtual std::optional<std::uint64_t> lag_bytes() const { return std::nullopt; }
  /// What happened to a followed input since last asked that is worth a line in the log (a
  /// rotation, a truncation, a file gone).
  virtual std::vector<std::string> take_notes() { return {}; }
};

/// A queue-like source's acknowledgement of some records, as one statement of the store that holds
/// the queue: a sink writing to that same store runs it in its commit's own transaction.
struct Acknowledgement {
  std::string statement;  ///< in the store's language, taking one parameter
  std::string argument;   ///< that parameter (the records' ids)
};

/// What a queue-like source (a stream, a table of pending rows) does with records that are done.
/// The engine calls it on its commit thread, after the outputs holding every item of those records
/// (results or dead letters) are durable and the state has recorded them: the exactly-once promise
/// rests on acknowledging nothing earlier. May block for a round trip; must not throw (a record
/// not acknowledged is delivered again, which the outputs then overwrite or the state skips).
class Acknowledger {
 public:
  virtual ~Acknowledger() = default;
  /// The records (by Record::line, as the reader numbered them) that are done.
  virtual void acknowledge(const std::vector<std::uint64_t>& lines) = 0;

  /// The store the records are acknowledged in, named so that equal names are one store (for a
  /// database, its connection string: never printed); "" when no sink can join its transactions.
  virtual std::string store() const { return {}; }
  /// For a sink writing to store(): the statement that acknowledges `lines`, for the sink to run in
  /// the transaction that commits their results (nothing when none of them needs it). Called on the
  /// commit thread; once that transaction committed, acknowledged_by_sink() is called instead of
  /// acknowledge().
  virtual std::optional<Acknowledgement> acknowledgement(const std::vector<std::uint64_t>& lines) {
    (void)lines;
    return std::nullopt;
  }
  virtual void acknowledged_by_sink(const std::vector<std::uint64_t>& lines) { (void)lines; }
};

/// A configured source type (one per [sources.NAME] table).
class Source {
 public:
  virtual ~Source() = default;
  /// Opens the input for reading. Throws std::runtime_error (naming the file) when it cannot.
  virtual std::unique_ptr<SourceReader> open() = 0;
  /// A followed file source resuming: `earlier` are the files an earlier run of its state began
  /// (oldest first), `first_free_line` the first number no record in the state has. The reader reads
  /// on from those files (records already done are skipped by the engine) before newer ones.
  virtual std::unique_ptr<SourceReader> resume(const std::vector<FollowedFile>& earlier,
                                               std::uint64_t first_free_line) {
    (void)earlier;
    (void)first_free_line;
    return open();
  }
  /// Decodes one record into item fields. Called concurrently from worker threads, after open().
  /// Returns the reason when the record is invalid; it then goes to the source's `invalid` port.
  virtual std::optional<std::string> decode(const Record& record, boost::json::object& fields) const = 0;
  /// The field that names a record when the graph sets no `id_field` ("": the line number).
  virtual std::string default_id_field() const { return {}; }
  /// The number of records when cheap to know (for progress and ETA).
  virtual std::optional<std::uint64_t> count_records() const { return std::nullopt; }
  /// Where the records come from, for graph dumps and the summary.
  virtual std::string describe() const = 0;
  /// True for an input that goes on (a stream, a queue, a followed file): the run reads it until it
  /// is drained (Ctrl-C, SIGTERM) or the reader says it is exhausted.
  virtual bool follows() const { return false; }
  /// For a queue-like source: who acknowledges its records once done (see Acknowledger). Its
  /// records' lines are then numbers the reader gave this run, not places in a file, so a resumed
  /// run relies on the queue (what was not acknowledged comes again), not on the state's lines.
  virtual std::shared_ptr<Acknowledger> acknowledger() { return nullptr; }
};

}  // namespace flowbatch

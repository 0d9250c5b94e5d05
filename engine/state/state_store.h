#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/state/record_runs.h"
#include "flowbatch/source.h"

namespace flowbatch {

/// One input record that reached its end: which source, where in it, and a hash of its text.
struct RecordKey {
  std::uint16_t source = 0;  ///< index into the run's source names
  std::uint64_t line = 0;
  std::uint64_t hash = 0;  ///< stable hash of the record's raw text
};

/// One item of an input record: the record, and which part of it (0: the record's own item; a copy
/// or a transform's output has a part of its own).
struct ItemKey {
  std::uint16_t source = 0;
  std::uint64_t line = 0;
  std::uint64_t hash = 0;
  std::uint64_t part = 0;
  bool operator==(const ItemKey&) const = default;
};

/// What a resumed run knows of the records a previous run completed, per source: sorted runs of
/// consecutive lines with one hash per line. Looking a record up is a binary search.
class CompletedRecords {
 public:
  enum class Status { unknown, done, changed };
  void add_run(std::uint64_t first, std::vector<std::uint64_t> hashes);
  /// Whether `line` was completed, and if so whether its text still hashes the same.
  Status lookup(std::uint64_t line, std::uint64_t hash) const;
  std::size_t size() const { return count_; }
  /// A number past every completed line (1 when none is).
  std::uint64_t first_free_line() const;
  void sort();

 private:
  struct Run {
    std::uint64_t first;
    std::vector<std::uint64_t> hashes;
  };
  std::vector<Run> runs_;
  std::size_t count_ = 0;
};

/// A run's durable state in SQLite (WAL): where each sink last committed, which input records
/// are complete, the request cache, and the run's status.
///
/// Commit protocol, for every sink and dead letter: the sink writes and fsyncs its data first,
/// then commit() records its new position together with the records that became complete. A
/// resumed run truncates each sink back to its recorded position and skips the recorded records,
/// so a kill at any moment loses nothing and writes nothing twice.
///
/// Thread-safe (one connection behind a mutex). Errors throw std::runtime_error naming the file.
class StateStore {
 public:
  /// Opens (or creates) the state of `pipeline`. A file that is not a flowbatch state, or belongs
  /// to another pipeline, is refused with a message pointing at --fresh.
  StateStore(const std::filesystem::path& file, const std::string& pipeline);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  /// Moves an existing state (and its WAL files) aside; returns where to, or nothing when there
  /// was none. Used by --fresh.
  static std::optional<std::filesystem::path> archive(const std::filesystem::path& file);

  const std::filesystem::path& file() const { return file_; }

  /// Whether a previous run left work behind (it did not finish).
  bool has_previous_run() const { return previous_run_; }
  /// The last committed position of an output (0 when it never committed).
  std::uint64_t sink_position(const std::string& sink);
  /// How many items the output holds up to its committed position.
  std::uint64_t sink_items(const std::string& sink);
  /// Items the output committed whose records were not complete then: a resumed run that does
  /// those records again must not write these items a second time.
  std::vector<ItemKey> partial_items(const std::string& sink, const std::vector<std::string>& source_names);
  /// Forgets those items: once every record is complete (the run finished) none matters.
  void clear_partial();
  /// The completed records of a source, by its name.
  CompletedRecords completed(const std::string& source);

  /// What one commit of an output records, in one transaction.
  struct Commit {
    std::uint64_t position = 0;                     ///< the output's new durable position
    std::uint64_t items_added = 0;                  ///< items written since its last commit
    const RecordRuns* completed = nullptr;          ///< records that became complete
    const std::vector<ItemKey>* partial = nullptr;  ///< items committed whose records are not complete yet
  };
  /// Records an output's commit.
  void commit(const std::string& sink, const Commit& commit, const std::vector<std::string>& source_names);
  /// Records complete records that no output writes (filtered, discarded).
  void complete(const RecordRuns& records, const std::vector<std::string>& source_names);

  void set_status(const std::string& status);
  /// The fingerprints (engine/graph/fingerprints.h, as JSON) of the graph that wrote the state.
  void set_fingerprints(const std::string& json);
  /// Counters for `flowbatch status` (done items per terminal and so on), as name -> value.
  void set_counters(const std::map<std::string, std::int64_t>& counters);
  /// A counter an earlier run recorded (0 when none did).
  std::int64_t counter(const std::string& name);

  // --- followed files (followed_file_store.cpp) ---------------------------------------------
  /// Records, durably, files a followed source began: before any of their records can commit.
  void record_followed_files(const std::string& source, const std::vector<FollowedFile>& files);
  /// Drops files a followed source began that no resumed run could read again (see
  /// SourceReader::forgettable_files), so a run following a file through years of rotations keeps
  /// a state of the size of the files still on disk. Not durable: a row back after a crash is harmless.
  void forget_followed_files(const std::string& source, const std::vector<FollowedFile>& files);
  /// The files a followed source began, oldest first.
  std::vector<FollowedFile> followed_files(const std::string& source);

  // --- flowbatch replay ----------------------------------------------------------------------
  /// A replay of a dead-letter file, as the state remembers it until it is finished.
  struct Replay {
    std::int64_t id = 0;
    std::string file;    ///< the dead-letter file as it was named
    std::string aside;   ///< where it was set aside, and is read from
    std::string output;  ///< the graph's output that wrote the file ("" when none does)
    std::string status;  ///< "moving" (being set aside), "running", "finished"
    std::string started_at;
  };
  /// The replay not finished yet, if any (there is at most one).
  std::optional<Replay> unfinished_replay();
  /// Records a new replay (status "moving"). When `output` names an output of the graph, that
  /// output starts afresh in the same transaction: its file is about to be set aside.
  Replay begin_replay(const std::string& file, const std::string& aside, const std::string& output);
  void set_replay_status(std::int64_t id, const std::string& status);
  /// The hashes of the dead-letter records replays other than `except` completed.
  std::unordered_set<std::uint64_t> replayed_records(std::int64_t except);

  // --- provider batch jobs (engine/runtime/batch_jobs.h; batch_job_store.cpp) -----------------
  struct BatchJob {
    std::string key;       ///< flowbatch's name for it (in the provider's metadata, where it keeps any)
    std::string provider;  ///< [providers.NAME]
    std::string node;      ///< the call
    /// "submitting" (its lines recorded), "uploaded", "creating" (the create request went out),
    /// "running", "ended", "abandoned" (never became a batch)
    std::string status;
    std::string upload_id, batch_id;
    std::string provider_status;  ///< what the provider said last
    std::int64_t lines = 0, succeeded = 0, errored = 0;
    std::int64_t created_unix_ms = 0;
    std::int64_t tokens = 0;  ///< its lines' estimated prompt tokens: what it holds of the provider's queue
  };
  /// One line of a job: one request, and the items it answers.
  struct BatchLine {
    std::string custom_id;
    /// Keys of the items the request answers (BatchJobs::item_key): a resumed run that groups
    /// items differently (packing) still finds each item's line. Empty in a state older than them.
    std::vector<std::string> items;
  };
  /// Records a job about to be created, with its lines, durably: before any request.
  void begin_batch_job(const BatchJob& job, const std::vector<BatchLine>& lines);
  /// Records what is known of a job now (its ids, statuses, counts), durably.
  void update_batch_job(const BatchJob& job);
  /// The jobs of a provider that were created or may have been (not abandoned), oldest first, with
  /// their lines.
  std::vector<std::pair<BatchJob, std::vector<BatchLine>>> batch_jobs(const std::string& provider);

 private:
  void exec(const char* sql);
  void durable_transaction(const std::function<void()>& body);
  void check(int rc, const char* what);
  [[noreturn]] void throw_failure(int rc, const std::string& message) const;
  void insert_runs(const RecordRuns& runs, const std::vector<std::string>& source_names);
  void insert_partial(const std::string& sink, const std::vector<ItemKey>& items,
                      const std::vector<std::string>& source_names);
  void upgrade_schema(const std::string& from);
  void create_batch_tables();
  void create_followed_files_table();

  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
  bool previous_run_ = false;
};

/// A read-only look at a state file, for `flowbatch status`.
struct StateSummary {
  std::string pipeline;
  std::string status;
  std::string started_at, updated_at;
  std::map<std::string, std::int64_t> counters;
  std::map<std::string, std::uint64_t> sink_positions;
  std::map<std::string, std::uint64_t> sink_items;
  std::map<std::string, std::uint64_t> completed_per_source;
  std::string fingerprints;  ///< of the graph that wrote it, as JSON; empty in states older than them
  std::vector<StateStore::BatchJob> batch_jobs;  ///< provider batch jobs, oldest first
};
StateSummary read_state_summary(const std::filesystem::path& file);
/// The batch jobs a state records (none in a state older than them).
std::vector<StateStore::BatchJob> read_batch_jobs(sqlite3* db);
/// Only the fingerprints a state keeps (JSON; empty when it keeps none): what a run reads at
/// start-up, without the summary's scan of every completed record.
std::string read_state_fingerprints(const std::filesystem::path& file);

}  // namespace flowbatch

#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/core/console.h"
#include "engine/core/redactor.h"
#include "engine/core/run_window.h"
#include "engine/cost/budget.h"
#include "engine/io/event_loop.h"
#include "engine/runtime/admission.h"
#include "engine/runtime/follow_lag.h"
#include "engine/runtime/item_ledger.h"
#include "engine/runtime/metrics.h"
#include "engine/runtime/packet.h"
#include "engine/state/commit_queue.h"
#include "engine/state/response_cache.h"
#include "engine/state/state_store.h"
#include "flowbatch/source.h"

namespace flowbatch {

/// What a run keeps or reads durably: opened by the runner before the run starts
/// (engine/runtime/runner.cpp) and fixed for its whole length, so no node ever sees it change.
struct RunServices {
  StateStore* store = nullptr;     ///< the run's durable state (resume, cache); null: it keeps none
  CommitQueue* commits = nullptr;  ///< where outputs send their commits; set exactly when `store` is
  bool append_outputs = false;     ///< outputs add to their files instead of starting afresh (replay)
  /// A replay: the hashes of the dead-letter records earlier replays sent through the graph.
  std::unordered_set<std::uint64_t> replayed_before;
  /// The lasting response cache's file (pipeline.cache); empty: none.
  std::filesystem::path cache_file;
  /// The cost cap and warning ([pipeline] max_cost_usd, warn_cost_usd), with what earlier runs spent.
  CostLimits cost;
  /// flowbatch estimate: only this share of each source's records goes through the graph (a
  /// pseudo-random pick by line number and `sample_seed`); the rest are skipped.
  double sample_rate = 1;
  std::uint64_t sample_seed = 0;
  /// flowbatch estimate --no-calls: calls send nothing; each request's prompt tokens are counted
  /// (estimated from its text) and its items end there.
  bool dry_calls = false;
};

/// The shared state of one run: what every node may consult and report to. Thread-safe.
///
/// The run is over when every source has finished and no item is alive, i.e. every item ever
/// created has ended (the ledger's count). That count, not an end-of-stream message, is what lets
/// a graph with retry loops know it is done.
class RunState {
 public:
  RunState(std::size_t max_in_flight, Console& console, const Redactor& redactor, EventLoop& loop,
           RunServices services);

  Metrics metrics;
  Admission admission;
  /// What the run may still spend: requests reserve their worst case here before they start.
  Budget budget;
  ItemLedger ledger{admission, metrics};
  Console& console;
  const Redactor& redactor;
  EventLoop& loop;
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  /// Items alive now (created and not yet ended).
  std::int64_t outstanding() const { return ledger.alive(); }

  // --- sources -----------------------------------------------------------------------------
  void source_opened() { sources_open_.fetch_add(1); }
  void source_finished() {
    if (sources_open_.fetch_sub(1) == 1 && outstanding() == 0) notify_idle();
  }
  bool sources_finished() const { return sources_open_.load() == 0; }
  /// Queue-like sources' acknowledgers by source index (null for the others), set at their start.
  std::vector<std::shared_ptr<Acknowledger>> acknowledgers;
  /// On the commit thread, once the state recorded `completed`: queue-like sources acknowledge
  /// those of their records.
  void acknowledge(const RecordRuns& completed) const;
  /// The lines of `completed`, by source index, of the queue-like sources.
  std::vector<std::vector<std::uint64_t>> acknowledgeable_lines(const RecordRuns& completed) const;
  /// For an output committing those lines in the same store as `sources`: their acknowledgements.
  std::vector<Acknowledgement> acknowledgements(const std::vector<std::vector<std::uint64_t>>& lines,
                                                const std::vector<std::uint16_t>& sources) const;
  /// Acknowledges those lines, except for the sources whose acknowledgement an output's transaction
  /// carried (they only forget them).
  void acknowledge(const std::vector<std::vector<std::uint64_t>>& lines,
                   const std::vector<std::uint16_t>& acknowledged_by_sink) const;
  /// [pipeline] window: requests start only inside it (set before the graph runs).
  std::optional<RunWindow> window;
  bool window_exit = false;  ///< outside the window: stop resumably instead of waiting
  /// Sources that follow their input (no total, so progress shows their lag instead of an ETA), and
  /// the lag of those that can tell it (a file in bytes, a stream in entries, a table in rows).
  std::atomic<std::uint32_t> following_sources{0};
  FollowLags follow_lags;
  /// Known total of input records across sources (0 when unknown), for progress and ETA.
  std::atomic<std::uint64_t> expected_items{0};
  /// The name of each source node, by ItemLedger::source (filled while the graph is built).
  std::vector<std::string> source_names;
  /// What the state calls each source's records: its name, or for a replay "replay:<id>:<name>"
  /// (the records of a dead-letter file are not the source's own).
  std::vector<std::string> source_keys;
  /// A replay: the hashes of the dead-letter records earlier replays sent through the graph.
  const std::unordered_set<std::uint64_t> replayed_before;
  /// Sinks and dead letters add to what their files hold instead of starting afresh (replay).
  const bool append_outputs;
  /// The run's durable state (resume, cache); null when the graph keeps none.
  StateStore* const store;
  /// Where sinks send their commits (sync, then state); set whenever `store` is.
  CommitQueue* const commits;
  /// Where the lasting response cache lives (pipeline.cache); empty: none.
  const std::filesystem::path cache_file;
  /// flowbatch estimate: whether the record at `line` of a source is in the sample (always, in a
  /// normal run).
  bool sampled(std::uint64_t line) const;
  bool sampling() const { return sample_rate_ < 1; }
  /// flowbatch estimate --no-calls (RunServices::dry_calls).
  const bool dry_calls;
  /// The lasting response cache, opened by the first node that asks (so a graph that caches
  /// nothing creates no file); null when the graph keeps none. Throws when it cannot be opened.
  ResponseCache* response_cache();
  /// Whether a node asked for the response cache this run (some call has cache = true).
  bool response_cache_opened() const;
  /// Posts the items discarded since the last call to the commit thread, where their records
  /// complete in order with the outputs' commits. Thread-safe.
  void commit_discards();

  /// True once every source has finished and every item has ended.
  bool finished() const { return sources_finished() && outstanding() == 0; }

  // --- stopping ----------------------------------------------------------------------------
  /// Ctrl-C: sources stop reading and newly admitted chunks are dropped (not started).
  void begin_drain() { draining_ = true; }
  bool draining() const { return draining_.load(); }
  /// Paused from the run's control API: no request starts (the progress line says so).
  void set_paused(bool paused) { paused_ = paused; }
  bool paused() const { return paused_.load(); }
  /// Second Ctrl-C, grace period over, or a fatal error: stop now.
  void mark_hard_stop() { hard_stopped_ = true; }
  bool hard_stopped() const { return hard_stopped_.load(); }
  /// The run cannot usefully go on (a provider's quota is exhausted), but nothing is wrong with
  /// it: stop starting work, finish what is under way, and end as resumable (exit code 75). The
  /// first reason is kept. Thread-safe.
  void stop_resumable(std::string reason);
  /// Like stop_resumable(), but nothing under way is waited for (a full disk: answers arriving
  /// now could not be written anyway): the run stops at once, through the stop hook. Thread-safe.
  void stop_resumable_now(std::string reason);
  /// Inside a catch block: stops the run for the exception being handled, `context` ("out.jsonl")
  /// prefixed to its message — resumable and at once for a full disk (StorageFull), fatal for
  /// anything else. Thread-safe.
  void stop_for_current_exception(const std::string& context = {});
  std::string resumable_reason() const;
  bool stopped_resumable() const { return resumable_.load(); }
  void set_drain_hook(std::function<void()> hook) { drain_hook_ = std::move(hook); }

  /// A fatal error (a sink that cannot write): recorded once, then the run stops (the runner's
  /// stop hook). Thread-safe.
  void fail(std::string message);
  void set_stop_hook(std::function<void()> hook) { stop_hook_ = std::move(hook); }
  /// Called (from any thread) when the run may just have finished, so the runner need not wait
  /// for its next tick to notice. Set before the graph runs.
  void set_idle_hook(std::function<void()> hook) { idle_hook_ = std::move(hook); }
  std::string fatal_error() const;
  bool failed() const { return fatal_.load(); }

  /// Wall-clock milliseconds since the epoch (item attempt times).
  static std::int64_t unix_ms();

 private:
  double sample_rate_;
  std::uint64_t sample_seed_;
  mutable std::mutex cache_mutex_;
  std::unique_ptr<ResponseCache> cache_;  // guarded by cache_mutex_ until opened

  void notify_idle() {
    if (idle_hook_) idle_hook_();
  }

  std::atomic<int> sources_open_{0};
  std::atomic<bool> draining_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> hard_stopped_{false};
  std::atomic<bool> fatal_{false};
  std::function<void()> stop_hook_;
  std::function<void()> drain_hook_;
  std::atomic<bool> resumable_{false};
  std::string resumable_reason_;  // guarded by fatal_mutex_
  std::function<void()> idle_hook_;
  mutable std::mutex fatal_mutex_;
  std::string fatal_message_;
};

}  // namespace flowbatch

#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "engine/runtime/failure_samples.h"
#include "flowbatch/error_class.h"
#include "flowbatch/item.h"

namespace flowbatch {

/// Latencies in log-spaced buckets (about 19% apart) from 0.1 ms to about 2 hours; lock-free.
class LatencyHistogram {
 public:
  void record(std::chrono::nanoseconds latency);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  static constexpr std::size_t kBuckets = 96;
  using Counts = std::array<std::uint64_t, kBuckets>;
  /// The latency below which a fraction `q` (0..1) of samples fall, in milliseconds (0 when empty).
  double percentile_ms(double q) const { return percentile_ms(counts(), q); }
  /// The same over bucket counts: a snapshot, or the difference of two (a sliding window).
  static double percentile_ms(const Counts& counts, double q);
  /// Samples by bucket now.
  Counts counts() const;
  /// The sum of every sample, in seconds (a Prometheus histogram's _sum).
  double sum_seconds() const { return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9; }

  /// Samples in bucket `i` (those at most upper_ms(i) and above upper_ms(i - 1)).
  std::uint64_t in_bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  static double upper_ms(std::size_t bucket);

 private:
  static std::size_t bucket_of(double ms);
  std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// Counters of one node. `emitted` is counted by its OutputPorts and `ended` by the ItemLedger, the
/// same way for every kind; `received` is counted by each kind's runtime as items arrive.
struct NodeStats {
  std::string name;
  std::string kind;
  std::string destination;                 ///< terminal nodes: where items were written
  std::atomic<std::uint64_t> received{0};  ///< items in
  std::atomic<std::uint64_t> emitted{0};   ///< items out, all ports
  std::atomic<std::uint64_t> ended{0};     ///< items that ended here (terminal nodes)
  std::atomic<std::uint64_t> commits{0};   ///< sinks and dead letters: commits done (data synced, state written)
  LatencyHistogram commit_latency;         ///< ... each from being posted to done
  /// Where the output's file is durable up to after its last commit (bytes), and the items this
  /// run has committed to it: what [notify.NAME] tells downstream systems.
  std::atomic<std::uint64_t> committed_position{0};
  std::atomic<std::uint64_t> committed_items{0};
};

/// Counters of one provider, kept by its lane as requests end: the /metrics endpoint's labels,
/// the summary's per-provider lines and JSON. Costs in nano-dollars (engine/cost/price.h).
struct ProviderStats {
  std::string name;
  std::string type;
  std::atomic<std::uint64_t> requests{0};  ///< requests completed (any outcome)
  std::atomic<std::uint64_t> items{0};     ///< items those requests carried
  /// Answers by HTTP status (index: the status; 0: no HTTP answer, e.g. a transport failure or
  /// an in-process provider's answer).
  std::array<std::atomic<std::uint64_t>, 600> by_status{};
  std::array<std::atomic<std::uint64_t>, kAllErrorClasses.size()> errors{};  ///< failed attempts, by class
  std::atomic<std::uint64_t> input_tokens{0};                                ///< as the provider's answers report them
  std::atomic<std::uint64_t> output_tokens{0};
  std::atomic<std::uint64_t> cached_input_tokens{0};  ///< of the input, read from the provider's prompt cache
  std::atomic<std::int64_t> cost_nano{0};             ///< what priced requests cost
  std::atomic<std::int64_t> saved_nano{0};            ///< what the response cache, packing and prompt caching saved
  std::atomic<std::uint64_t> unpriced_requests{0};    ///< answered requests of a model with no known price
  LatencyHistogram latency;
};

/// What each item that reached a sink or dead letter cost: kept only when asked (flowbatch
/// estimate reads the spread of a sample's costs from it).
class ItemCostLog {
 public:
  struct Entry {
    std::int64_t cost_nano = 0;  ///< -1: unknown
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
  };
  void enable() { enabled_ = true; }
  bool enabled() const { return enabled_; }
  void add(Entry e) {
    std::lock_guard lock(mutex_);
    entries_.push_back(e);
  }
  std::vector<Entry> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }

 private:
  bool enabled_ = false;  // set before the run starts
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;  // guarded by mutex_
};

/// Everything counted during a run; read by the progress line and the summary.
class Metrics {
 public:
  static constexpr std::size_t kClasses = kAllErrorClasses.size();

  NodeStats& add_node(std::string name, std::string kind) {
    NodeStats& s = nodes_.emplace_back();
    s.name = std::move(name);
    s.kind = std::move(kind);
    return s;
  }
  const std::deque<NodeStats>& nodes() const { return nodes_; }
  ProviderStats& add_provider(std::string name, std::string type) {
    ProviderStats& s = providers_.emplace_back();
    s.name = std::move(name);
    s.type = std::move(type);
    return s;
  }
  const std::deque<ProviderStats>& providers() const { return providers_; }
  NodeStats& node(std::size_t index) { return nodes_[index]; }

  /// A failed attempt of item `id`; its message is kept among the class's samples for the report.
  void count_attempt_error(const Failure& f, std::string_view id) {
    attempt_errors[static_cast<std::size_t>(f.error_class)].fetch_add(1, std::memory_order_relaxed);
    failure_samples.note(f.error_class, f.message, id, /*dead=*/false);
  }
  /// An item dead-lettered with its final failure `f`.
  void count_dead(const Failure& f, std::string_view id) {
    dead_by_class[static_cast<std::size_t>(f.error_class)].fetch_add(1, std::memory_order_relaxed);
    failure_samples.note(f.error_class, f.message, id, /*dead=*/true);
  }

  std::atomic<std::uint64_t> admitted{0};                  ///< items read from sources
  std::atomic<std::uint64_t> records_ok{0};                ///< input records done, every item at a sink (or discarded)
  std::atomic<std::uint64_t> records_failed{0};            ///< input records done, some item in a dead letter
  std::atomic<std::uint64_t> records_skipped{0};           ///< input records a previous run completed
  std::atomic<std::uint64_t> succeeded{0};                 ///< items written by sinks
  std::atomic<std::uint64_t> dead{0};                      ///< items written by dead letters
  std::atomic<std::uint64_t> discarded{0};                 ///< items that reached an output connected to nothing
  std::atomic<std::uint64_t> abandoned{0};                 ///< items dropped by a hard stop (resumable)
  std::atomic<std::uint64_t> skipped{0};                   ///< records a previous run completed (resuming)
  std::atomic<std::uint64_t> changed{0};                   ///< of those, records whose input changed since
  std::atomic<std::uint64_t> already_replayed{0};          ///< replayed records an earlier replay sent already
  std::atomic<std::uint64_t> duplicate_ids{0};             ///< records whose id an earlier record of their source had
  std::atomic<std::uint64_t> cache_hits{0};                ///< requests (or packed items) answered from the cache
  std::atomic<std::uint64_t> cache_saved_input_tokens{0};  ///< tokens the cache's answers cost when first paid for
  std::atomic<std::uint64_t> cache_saved_output_tokens{0};
  std::atomic<std::uint64_t> packed_items{0};     ///< items sent in packed requests (each attempt)
  std::atomic<std::uint64_t> packed_requests{0};  ///< packed requests made
  /// Input tokens packing saved against one request per item (estimated: the system prompt not
  /// repeated, less the instruction and ids packing adds; negative when a pack costs more).
  std::atomic<std::int64_t> pack_saved_input_tokens{0};
  std::atomic<std::uint64_t> pack_resends{0};     ///< items a packed answer left out, repeated or garbled: sent again
  std::atomic<std::int64_t> retry_waiting{0};     ///< items waiting out a retry back-off now
  std::atomic<std::int64_t> peak_outstanding{0};  ///< the most items alive at once
  std::atomic<std::uint64_t> dead_held{0};  ///< items the dead-letter files hold (with a state: earlier runs' too)
  std::atomic<std::uint64_t> retries{0};    ///< retry attempts scheduled
  std::atomic<std::uint64_t> splits{0};     ///< multi-item requests split to isolate a bad item
  std::array<std::atomic<std::uint64_t>, kClasses> attempt_errors{};  ///< every failed attempt, by class
  std::array<std::atomic<std::uint64_t>, kClasses> dead_by_class{};   ///< dead-lettered items, by final class

  std::atomic<std::uint64_t> requests{0};  ///< requests completed (any outcome)
  std::atomic<std::uint64_t> input_tokens{0};
  std::atomic<std::uint64_t> output_tokens{0};
  std::atomic<std::uint64_t> cached_input_tokens{0};  ///< of the input, read from providers' prompt caches
  std::atomic<std::uint64_t> cache_write_tokens{0};   ///< of the input, written to providers' prompt caches
  LatencyHistogram request_latency;
  ItemCostLog item_costs;
  FailureSamples failure_samples;  ///< each class's top messages with example ids (the report)
  SlowestRequests slowest;         ///< the slowest requests (the report)

  // Money, in nano-dollars (1e-9 USD; engine/cost/price.h).
  std::atomic<std::int64_t> cost_nano{0};                ///< what this run's priced requests cost
  std::atomic<std::uint64_t> unpriced_requests{0};       ///< answered requests of a model with no known price
  std::atomic<std::int64_t> saved_cache_nano{0};         ///< answers from the response cache, at today's prices
  std::atomic<std::int64_t> saved_pack_nano{0};          ///< packing, against one request per item (estimated)
  std::atomic<std::int64_t> saved_prompt_cache_nano{0};  ///< the providers' prompt-cache discounts
  std::atomic<std::int64_t> spent_before_nano{0};        ///< what earlier runs of this state spent (resumed)
  std::atomic<std::int64_t> saved_batch_nano{0};         ///< the batch APIs' discount

  // Calls in batch or auto mode (engine/runtime/batch_jobs.h).
  std::atomic<std::uint64_t> batch_jobs{0};          ///< jobs this run created
  std::atomic<std::uint64_t> batch_items{0};         ///< items answered through a batch job
  std::atomic<std::uint64_t> batch_online_items{0};  ///< items of batch-mode calls sent online (auto)
  /// Items an earlier run sent in a batch job that came back grouped otherwise (packing) and went
  /// back to the line that holds them instead of into a new one.
  std::atomic<std::uint64_t> batch_rejoined_items{0};
  /// The provider's batch queue (batch_enqueued_tokens): jobs that had to wait for room in it
  /// (each time), refusals of a job for it, and jobs waiting now.
  std::atomic<std::uint64_t> batch_jobs_parked{0};
  std::atomic<std::uint64_t> batch_queue_refusals{0};
  std::atomic<std::int64_t> batch_jobs_waiting{0};

 private:
  std::deque<NodeStats> nodes_;  // deque: stable addresses while nodes are added
  std::deque<ProviderStats> providers_;
};

}  // namespace flowbatch

#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "engine/runtime/build_context.h"
#include "engine/runtime/item_ledger.h"
#include "engine/runtime/node_runtime.h"
#include "flowbatch/sink.h"

namespace flowbatch {

/// When buffered records are flushed (handed to the destination, and committed with a state): every `every_items` items
/// or every `interval`, whichever comes first, and at the end of the run.
struct FlushPolicy {
  std::size_t every_items = 200;
  std::chrono::milliseconds interval{1000};
};

/// Reads the flush keys every writing kind shares (flush_every, flush_interval_ms).
FlushPolicy read_flush_policy(Options& options);
const std::vector<KeySpec>& flush_keys();

/// The runtime of a terminal node (a sink or a dead letter): a serial flow-graph node that writes
/// every item it receives through a SinkWriter, flushes by policy, and ends the items there.
/// A write failure is fatal for the run (it stops, resumable) and names the destination.
///
/// With a state store, each flush is a commit: the writer makes its data durable first, then the
/// store records the new position, the records that became complete and the items written whose
/// records are not complete yet. A resumed run opens the destination at its last committed
/// position, dropping whatever a killed run wrote after it, and does not write again an item it
/// committed before (its record, split over several outputs, is done again for the others).
class WriterNode final : public NodeRuntime {
 public:
  /// Opens the destination at a position (0: afresh; kAppend: after what is there).
  using Opener = std::function<std::unique_ptr<SinkWriter>(std::uint64_t resume_at)>;

  WriterNode(BuildContext& context, Opener open, FlushPolicy policy, Ending ending, std::string destination);

  flow::receiver<Packet>* input() override { return &node_; }
  std::optional<std::chrono::milliseconds> tick_interval() const override { return policy_.interval; }
  void start() override;
  void finish() override;

 private:
  struct KeyHash {
    std::size_t operator()(const ItemKey& k) const {
      return static_cast<std::size_t>(k.hash ^ (k.line * 0x9E3779B97F4A7C15ull) ^ k.part);
    }
  };

  void receive(const Packet& packet);
  bool committed_before(const Item& item);
  void flush();
  void commit();
  void post_commit(std::uint64_t position);
  void join_acknowledgements();

  RunState& run_;
  NodeStats& stats_;
  Logger log_;
  std::string name_;
  CommitBatch uncommitted_;                                // items written (or found committed) since the last commit
  std::uint64_t items_added_ = 0;                          // of those, items written by this run
  std::unordered_set<ItemKey, KeyHash> committed_before_;  // resuming: what an earlier run committed here
  Opener open_;
  FlushPolicy policy_;
  Ending ending_;
  std::string destination_;
  std::unique_ptr<SinkWriter> writer_;
  std::size_t unflushed_ = 0;
  std::chrono::steady_clock::time_point last_flush_;
  bool broken_ = false;
  std::vector<std::uint16_t> joined_sources_;  // queue-like sources acknowledged in this output's commits
  // receive() runs on workers, finish() on the main thread once the graph is done. The graph's
  // wait orders them, but inside libtbb, where ThreadSanitizer cannot see it; this (never
  // contended) lock states the order in a way it can.
  std::mutex turn_;
  flow::function_node<Packet, flow::continue_msg> node_;
};

}  // namespace flowbatch

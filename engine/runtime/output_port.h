#pragma once
#include "engine/runtime/flow.h"
#include "engine/runtime/metrics.h"
#include "engine/runtime/packet.h"

namespace flowbatch {

/// One named output of a node: a broadcast_node the runner connects to the consumers' inputs.
/// Counting happens here, so every kind reports the same way.
class OutputPort {
 public:
  OutputPort(flow::graph& graph, NodeStats& stats) : node_(graph), stats_(&stats) {}

  /// Sends a group of items on (nothing when empty). Thread-safe.
  void emit(ItemVector items) {
    if (items.empty()) return;
    stats_->emitted.fetch_add(items.size(), std::memory_order_relaxed);
    node_.try_put(Packet::of(std::move(items)));
  }
  flow::broadcast_node<Packet>& sender() { return node_; }

 private:
  flow::broadcast_node<Packet> node_;
  NodeStats* stats_;
};

}  // namespace flowbatch

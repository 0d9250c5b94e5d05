#pragma once
#include <string>

#include "engine/core/console.h"
#include "engine/graph/plan.h"
#include "engine/runtime/flow.h"
#include "engine/runtime/output_port.h"
#include "engine/runtime/run_state.h"

namespace flowbatch {

class ProviderLane;

/// What the runner hands a node kind while building its runtime: the graph, the run's shared
/// state, the node's own ports and counters, and the shared services it may use. Nodes never
/// create threads, timers or sockets themselves.
class BuildContext {
 public:
  BuildContext(flow::graph& g, RunState& r, const Plan& p, std::size_t i, NodeStats& s, Logger l)
      : graph(g), run(r), plan(p), index(i), stats(s), log(std::move(l)) {}
  virtual ~BuildContext() = default;

  flow::graph& graph;
  RunState& run;
  const Plan& plan;
  std::size_t index;  ///< this node's index in plan.nodes
  NodeStats& stats;
  Logger log;

  const PlanNode& node() const { return plan.nodes[index]; }
  /// The node's output port `port` (index into its kind's outputs).
  virtual OutputPort& output(std::size_t port) = 0;
  /// The request lane of a provider (index into plan.providers), shared by all its call nodes.
  virtual ProviderLane& lane(std::size_t provider) = 0;
  /// Sources: chunks from `reader` pass the shared admission limiter (pipeline.max_in_flight),
  /// then arrive at `admitted`. Returns the source index the ledger gives its items (ItemLedger::admit)
  /// so admitted chunks find their way back.
  virtual std::uint16_t admit(flow::sender<Packet>& reader, flow::receiver<Packet>& admitted) = 0;
};

}  // namespace flowbatch

#pragma once
// Assembly: a Plan made into a tbb::flow graph. One NodeRuntime per node (built by its kind), one
// ProviderLane per provider, output ports wired to their consumers (fan-outs copy, unconsumed
// ports discard), and the shared admission limiter in front of every source. It builds and wires;
// it runs nothing (engine/runtime/runner.cpp's run control does).
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/core/job_queue.h"
#include "engine/graph/plan.h"
#include "engine/io/http_client.h"
#include "engine/runtime/flow.h"
#include "engine/runtime/node_runtime.h"
#include "engine/runtime/output_port.h"
#include "engine/runtime/provider_lane.h"
#include "engine/runtime/run_state.h"

namespace flowbatch {

class GraphAssembly {
 public:
  /// `replay_id`: flowbatch replay's id (0: a normal run), which names the sources' records.
  GraphAssembly(flow::graph& graph, const Plan& plan, RunState& run, HttpClient& http, JobQueue& blocking,
                std::int64_t replay_id);
  GraphAssembly(const GraphAssembly&) = delete;
  GraphAssembly& operator=(const GraphAssembly&) = delete;

  /// Builds every lane and node runtime and connects the ports. Ticks from `ticker` reach the
  /// nodes that asked for them. Called once.
  void build(flow::sender<Packet>& ticker);

  /// How often the ticker must fire for the node that needs it most often (valid after build()).
  std::chrono::milliseconds tick_period() const { return tick_period_; }
  const std::vector<std::unique_ptr<NodeRuntime>>& runtimes() const { return runtimes_; }
  const std::vector<std::unique_ptr<ProviderLane>>& lanes() const { return lanes_; }

 private:
  class Context;
  using PacketNode = flow::function_node<Packet, flow::continue_msg>;

  void wire(flow::sender<Packet>& ticker);
  PacketNode& discard_node();
  void fan_out_packet(const Packet& packet, const std::vector<flow::receiver<Packet>*>& inputs);
  void route_admitted(const Packet& p);

  flow::graph& graph_;
  const Plan& plan_;
  RunState& run_;
  HttpClient& http_;
  JobQueue& blocking_;
  std::int64_t replay_id_;
  flow::limiter_node<Packet, long> admission_limiter_;
  PacketNode router_;
  std::vector<flow::receiver<Packet>*> admitted_targets_;  // by source index
  std::vector<std::vector<std::unique_ptr<OutputPort>>> ports_;
  std::vector<std::unique_ptr<ProviderLane>> lanes_;
  std::vector<std::unique_ptr<NodeRuntime>> runtimes_;
  std::vector<std::unique_ptr<PacketNode>> fan_outs_;
  std::unique_ptr<PacketNode> discard_;
  std::chrono::milliseconds tick_period_{50};
};

}  // namespace flowbatch

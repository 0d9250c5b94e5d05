#include "engine/runtime/assembly.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "engine/runtime/build_context.h"

namespace flowbatch {

/// The BuildContext a kind's build() gets: its node's ports, the lanes, and admission.
class GraphAssembly::Context final : public BuildContext {
 public:
  Context(GraphAssembly& assembly, std::size_t node_index, NodeStats& node_stats, Logger node_log)
      : BuildContext(assembly.graph_, assembly.run_, assembly.plan_, node_index, node_stats, std::move(node_log)),
        assembly_(assembly) {}

  OutputPort& output(std::size_t port) override { return *assembly_.ports_[index][port]; }
  ProviderLane& lane(std::size_t provider) override { return *assembly_.lanes_[provider]; }

  std::uint16_t admit(flow::sender<Packet>& reader, flow::receiver<Packet>& admitted) override {
    flow::make_edge(reader, assembly_.admission_limiter_);
    assembly_.admitted_targets_.push_back(&admitted);
    run.source_names.push_back(node().name);
    const std::int64_t replay = assembly_.replay_id_;
    run.source_keys.push_back(replay ? fmt::format("replay:{}:{}", replay, node().name) : node().name);
    return static_cast<std::uint16_t>(assembly_.admitted_targets_.size() - 1);
  }

 private:
  GraphAssembly& assembly_;
};

GraphAssembly::GraphAssembly(flow::graph& graph, const Plan& plan, RunState& run, HttpClient& http, JobQueue& blocking,
                             std::int64_t replay_id)
    : graph_(graph),
      plan_(plan),
      run_(run),
      http_(http),
      blocking_(blocking),
      replay_id_(replay_id),
      admission_limiter_(graph, run.admission.threshold()),
      router_(graph, flow::unlimited, [this](const Packet& p) {
        route_admitted(p);
        return flow::continue_msg();
      }) {
  run_.admission.set_opener([this](long chunks) { admission_limiter_.decrementer().try_put(chunks); });
  flow::make_edge(admission_limiter_, router_);
}

void GraphAssembly::build(flow::sender<Packet>& ticker) {
  for (const auto& node : plan_.nodes) {
    NodeStats& stats = run_.metrics.add_node(node.name, node.kind->name);
    auto& ports = ports_.emplace_back();
    for (std::size_t p = 0; p < node.kind->outputs.size(); ++p)
      ports.push_back(std::make_unique<OutputPort>(graph_, stats));
  }
  for (const auto& provider : plan_.providers)
    lanes_.push_back(std::make_unique<ProviderLane>(graph_, provider, run_, http_, blocking_,
                                                    Logger(run_.console, "provider:" + provider.name)));
  for (std::size_t i = 0; i < plan_.nodes.size(); ++i) {
    const PlanNode& node = plan_.nodes[i];
    Context context(*this, i, run_.metrics.node(i), Logger(run_.console, node.kind->name + ":" + node.name));
    runtimes_.push_back(node.kind->build(*node.config, context));
  }
  wire(ticker);
}

/// Connects every port to its consumers. A port with several consumers goes through a fan-out
/// node that gives each its own copy of the items before any of them starts (a consumer owns
/// what it receives and may move from it); a port nobody consumes ends its items as discarded.
void GraphAssembly::wire(flow::sender<Packet>& ticker) {
  for (std::size_t n = 0; n < plan_.nodes.size(); ++n) {
    for (std::size_t p = 0; p < ports_[n].size(); ++p) {
      auto& sender = ports_[n][p]->sender();
      const auto consumers = plan_.outputs_of(n, p);
      if (consumers.empty()) {
        flow::make_edge(sender, discard_node());
        continue;
      }
      if (consumers.size() == 1) {
        flow::make_edge(sender, *runtimes_[consumers.front()->to]->input());
        continue;
      }
      std::vector<flow::receiver<Packet>*> inputs;
      inputs.reserve(consumers.size());
      for (const PlanEdge* e : consumers) inputs.push_back(runtimes_[e->to]->input());
      auto& fan_out = fan_outs_.emplace_back(
          std::make_unique<PacketNode>(graph_, flow::unlimited, [this, inputs](const Packet& packet) {
            fan_out_packet(packet, inputs);
            return flow::continue_msg();
          }));
      flow::make_edge(sender, *fan_out);
    }
  }
  std::optional<std::chrono::milliseconds> shortest;
  for (auto& r : runtimes_) {
    if (auto interval = r->tick_interval()) {
      flow::make_edge(ticker, *r->input());
      shortest = std::min(shortest.value_or(*interval), *interval);
    }
  }
  // A quarter of the shortest interval keeps time-outs accurate to 25%; within 5..50 ms.
  tick_period_ = std::clamp(shortest.value_or(std::chrono::milliseconds(50)) / 4, std::chrono::milliseconds(5),
                            std::chrono::milliseconds(50));
}

GraphAssembly::PacketNode& GraphAssembly::discard_node() {
  if (!discard_) {
    discard_ = std::make_unique<PacketNode>(graph_, flow::unlimited, [this](const Packet& p) {
      if (!p.is_tick()) run_.ledger.end(*p.items, Ending::discarded);
      return flow::continue_msg();
    });
  }
  return *discard_;
}

/// Copies for every consumer but the first (which gets the original), all made before any of
/// them is sent on.
void GraphAssembly::fan_out_packet(const Packet& packet, const std::vector<flow::receiver<Packet>*>& inputs) {
  if (packet.is_tick()) {
    for (auto* input : inputs) input->try_put(packet);
    return;
  }
  std::vector<Packet> copies;
  copies.reserve(inputs.size() - 1);
  for (std::size_t c = 1; c < inputs.size(); ++c) {
    ItemVector copy;
    copy.reserve(packet.items->size());
    for (Item& item : *packet.items) copy.push_back(run_.ledger.copy(item, c));
    copies.push_back(Packet::of(std::move(copy)));
  }
  inputs[0]->try_put(packet);
  for (std::size_t c = 1; c < inputs.size(); ++c) inputs[c]->try_put(copies[c - 1]);
}

void GraphAssembly::route_admitted(const Packet& p) {
  if (p.is_tick() || p.items->empty()) return;
  if (run_.draining()) {  // admitted after Ctrl-C: never started, so a resumed run does them
    run_.ledger.end(*p.items, Ending::abandoned);
    return;
  }
  admitted_targets_[ItemLedger::source(p.items->front())]->try_put(p);
}

}  // namespace flowbatch

// [transforms.NAME]: runs a registered transform type (built-in or from a plugin) on every item:
// one item in, zero or more out. A transform that throws sends the item to `NAME.error` with the
// exception's message; the run goes on.
#include <fmt/format.h>

#include "engine/core/exceptions.h"
#include "engine/graph/type_registry.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/node_runtime.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

struct TransformConfig final : NodeConfig {
  std::unique_ptr<Transform> transform;
  bool concurrent = true;
  std::string type;
  std::string label() const override { return concurrent ? "" : "serial"; }
  std::optional<std::vector<std::string>> fields_added() const override {
    return std::nullopt;
  }  // a plugin may add any
};

class Collector final : public ItemOutput {
 public:
  explicit Collector(ItemVector& out) : out_(out) {}
  void emit(Item item) override {
    out_.push_back(std::move(item));
    ++count_;
  }
  std::size_t count() const { return count_; }

 private:
  ItemVector& out_;
  std::size_t count_ = 0;
};

class TransformRuntime final : public NodeRuntime {
 public:
  TransformRuntime(const TransformConfig& config, BuildContext& context)
      : config_(config),
        run_(context.run),
        stats_(context.stats),
        name_(context.node().name),
        out_(context.output(0)),
        error_(context.output(1)),
        node_(context.graph, config.concurrent ? flow::unlimited : flow::serial, [this](const Packet& p) {
          receive(p);
          return flow::continue_msg();
        }) {}

  flow::receiver<Packet>* input() override { return &node_; }

 private:
  void receive(const Packet& packet) {
    ItemVector& items = *packet.items;
    stats_.received.fetch_add(items.size(), std::memory_order_relaxed);
    ItemVector out, failed;
    out.reserve(items.size());
    for (Item& item : items) apply(item, out, failed);
    out_.emit(std::move(out));
    error_.emit(std::move(failed));
  }

  void apply(Item& item, ItemVector& out, ItemVector& failed) {
    // What the engine must keep whatever the transform does to the item.
    const std::string id = item.id;
    const std::uint64_t line = item.line;
    const ItemTrace trace = item.trace;
    const std::size_t first = out.size();
    Collector collector(out);
    std::optional<std::string> error;
    try {
      config_.transform->apply(item, collector);
    } catch (...) {  // how a transform rejects an item (flowbatch/transform.h)
      error = current_exception_message();
    }
    const std::size_t emitted = collector.count();
    for (std::size_t i = first; i < out.size(); ++i) {
      Item& o = out[i];
      if (o.id.empty()) o.id = emitted > 1 ? fmt::format("{}.{}", id, i - first) : id;
      if (o.line == 0) o.line = line;
    }
    item.id = id;
    item.line = line;
    // The outputs (and, on error, the input) are items of the same input record.
    run_.ledger.split(item, trace, out, first, error.has_value(), &stats_);
    if (!error) return;
    item.failure = make_failure(ErrorClass::transform, run_.redactor.redact(*error), name_);
    item.error_history.push_back(ErrorClass::transform);
    run_.metrics.count_attempt_error(*item.failure, item.id);
    failed.push_back(std::move(item));
  }

  const TransformConfig& config_;
  RunState& run_;
  NodeStats& stats_;
  std::string name_;
  OutputPort& out_;
  OutputPort& error_;
  flow::function_node<Packet, flow::continue_msg> node_;
};

std::unique_ptr<NodeConfig> parse_transform(ParseContext& ctx) {
  auto config = std::make_unique<TransformConfig>();
  const TransformType* type = ctx.types.transform(ctx.type);
  config->type = ctx.type;
  config->concurrent = type->concurrent;
  config->transform = type->configure(ctx.options);
  if (!config->transform) return nullptr;
  return config;
}

}  // namespace

NodeKind transform_kind() {
  NodeKind k;
  k.table = "transforms";
  k.name = "transform";
  k.summary = "runs a registered transform on each item: one in, zero or more out";
  k.family = TypeFamily::transform;
  k.outputs = {{"", PortKind::items}, {"error", PortKind::failed}};
  k.accepts = {PortKind::items};
  k.parse = parse_transform;
  k.build = [](const NodeConfig& config, BuildContext& context) -> std::unique_ptr<NodeRuntime> {
    return std::make_unique<TransformRuntime>(static_cast<const TransformConfig&>(config), context);
  };
  return k;
}

}  // namespace flowbatch

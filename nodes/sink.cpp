// [sinks.NAME]: writes items through a registered sink type (jsonl, csv, stdout, plugins),
// flushing as it goes so results reach the destination while the job runs.
#include "engine/graph/type_registry.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/writer_node.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

struct SinkConfig final : NodeConfig {
  std::shared_ptr<Sink> sink;
  FlushPolicy flush;
  std::string label() const override { return sink->describe(); }
};

std::unique_ptr<NodeConfig> parse_sink(ParseContext& ctx) {
  auto config = std::make_unique<SinkConfig>();
  config->flush = read_flush_policy(ctx.options);
  config->sink = ctx.types.sink(ctx.type)->configure(ctx.options);
  if (!config->sink) return nullptr;
  return config;
}

}  // namespace

NodeKind sink_kind() {
  NodeKind k;
  k.table = "sinks";
  k.name = "sink";
  k.summary = "writes results to a file or stream, flushing incrementally";
  k.keys = flush_keys();
  k.family = TypeFamily::sink;
  k.default_type = "jsonl";
  k.accepts = {PortKind::items};
  k.terminal = true;
  k.parse = parse_sink;
  k.build = [](const NodeConfig& c, BuildContext& context) -> std::unique_ptr<NodeRuntime> {
    const auto& config = static_cast<const SinkConfig&>(c);
    auto open = [sink = config.sink](std::uint64_t resume_at) { return sink->open(resume_at); };
    return std::make_unique<WriterNode>(context, open, config.flush, Ending::sink, config.sink->describe());
  };
  return k;
}

}  // namespace flowbatch

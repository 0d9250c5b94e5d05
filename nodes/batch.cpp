// [batches.NAME]: groups items into batches by size (max_items), by estimated tokens
// (max_tokens) and by key (group_by); a partial batch leaves after timeout_ms, and at once when
// the input is exhausted or the run is draining.
#include <fmt/format.h>

#include <unordered_map>

#include "engine/core/template.h"
#include "engine/core/text.h"
#include "engine/core/tokens.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/node_runtime.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

// Set only by parse(), from the keys: their defaults live in the KeySpecs (one source of truth).
struct BatchConfig final : NodeConfig {
  std::size_t max_items{};
  std::size_t max_tokens{};  // 0: no token limit
  std::chrono::milliseconds timeout{};
  std::string group_by;
  std::vector<std::string> group_path;

  std::string label() const override {
    std::string s = fmt::format("max_items={} timeout_ms={}", max_items, timeout.count());
    if (max_tokens) s += fmt::format(" max_tokens={}", max_tokens);
    if (!group_by.empty()) s += "\ngroup_by=" + group_by;
    return s;
  }
};

/// A rough token count (about four characters per token) over an item's string fields: enough
/// to keep a batch under a model's context budget without a tokenizer.
std::size_t item_tokens(const boost::json::object& fields) {
  std::size_t chars = 0;
  for (const auto& kv : fields) {
    if (const auto* s = kv.value().if_string()) chars += s->size();
    else if (!kv.value().is_null()) chars += 8;
  }
  return static_cast<std::size_t>(estimate_tokens(chars));
}

class BatchRuntime final : public NodeRuntime {
 public:
  BatchRuntime(const BatchConfig& config, BuildContext& context)
      : config_(config),
        run_(context.run),
        stats_(context.stats),
        out_(context.output(0)),
        node_(context.graph, flow::serial, [this](const Packet& p) {
          receive(p);
          return flow::continue_msg();
        }) {}

  flow::receiver<Packet>* input() override { return &node_; }
  std::optional<std::chrono::milliseconds> tick_interval() const override { return config_.timeout; }

 private:
  struct Group {
    ItemVector items;
    std::size_t tokens = 0;
    std::chrono::steady_clock::time_point opened;
  };

  void receive(const Packet& packet) {
    if (packet.is_tick()) return flush_due();
    stats_.received.fetch_add(packet.items->size(), std::memory_order_relaxed);
    for (Item& item : *packet.items) add(std::move(item));
  }

  void add(Item item) {
    Group& group = groups_[group_key(item)];
    const std::size_t tokens = config_.max_tokens ? item_tokens(item.fields) : 0;
    if (config_.max_tokens && !group.items.empty() && group.tokens + tokens > config_.max_tokens) send(group);
    if (group.items.empty()) {
      group.opened = std::chrono::steady_clock::now();
      group.items.reserve(config_.max_items);
    }
    group.tokens += tokens;
    group.items.push_back(std::move(item));
    if (group.items.size() >= config_.max_items) send(group);
  }

  std::string group_key(const Item& item) const {
    if (config_.group_path.empty()) return {};
    std::string key;
    if (const boost::json::value* v = find_path(item.fields, config_.group_path)) append_as_text(*v, key);
    return key;
  }

  void flush_due() {
    // Once the input is exhausted (or the run is draining), waiting longer cannot fill a batch.
    const bool everything = run_.sources_finished() || run_.draining();
    const auto now = std::chrono::steady_clock::now();
    for (auto it = groups_.begin(); it != groups_.end();) {
      Group& g = it->second;
      if (!g.items.empty() && (everything || now - g.opened >= config_.timeout)) send(g);
      // Forget idle groups so a high-cardinality group_by cannot grow the map without bound.
      it = g.items.empty() ? groups_.erase(it) : std::next(it);
    }
  }

  void send(Group& group) {
    out_.emit(std::move(group.items));
    group.items = {};
    group.tokens = 0;
  }

  const BatchConfig& config_;
  RunState& run_;
  NodeStats& stats_;
  OutputPort& out_;
  std::unordered_map<std::string, Group> groups_;  // touched only by the serial body
  flow::function_node<Packet, flow::continue_msg> node_;
};

std::unique_ptr<NodeConfig> parse_batch(ParseContext& ctx) {
  Options& o = ctx.options;
  auto config = std::make_unique<BatchConfig>();
  const std::int64_t max_items = o.integer("max_items");
  if (max_items < 1) o.error("max_items", "must be at least 1");
  else config->max_items = static_cast<std::size_t>(max_items);
  const std::int64_t max_tokens = o.integer("max_tokens");
  if (max_tokens < 0) o.error("max_tokens", "must not be negative (0: no token limit)");
  else config->max_tokens = static_cast<std::size_t>(max_tokens);
  const std::int64_t timeout = o.integer("timeout_ms");
  if (timeout < 1) o.error("timeout_ms", "must be at least 1");
  else config->timeout = std::chrono::milliseconds(timeout);
  config->group_by = o.string("group_by");
  if (!config->group_by.empty()) config->group_path = split(config->group_by, '.');
  return config;
}

}  // namespace

NodeKind batch_kind() {
  NodeKind k;
  k.table = "batches";
  k.name = "batch";
  k.summary = "groups items into batches by size, estimated tokens and key, with a time-out";
  k.keys = {
      {"max_items", KeyKind::integer, false, "100", "a batch leaves when it holds this many items"},
      {"max_tokens", KeyKind::integer, false, "0",
       "a batch leaves before it would exceed this many estimated tokens (0: no limit)"},
      {"timeout_ms", KeyKind::integer, false, "1000", "a partial batch leaves after waiting this long"},
      {"group_by", KeyKind::string, false, "", "batch items by this field's value (dotted path for nested fields)"},
  };
  k.outputs = {{"", PortKind::items}};
  k.accepts = {PortKind::items};
  k.parse = parse_batch;
  k.build = [](const NodeConfig& config, BuildContext& context) -> std::unique_ptr<NodeRuntime> {
    return std::make_unique<BatchRuntime>(static_cast<const BatchConfig&>(config), context);
  };
  return k;
}

}  // namespace flowbatch

// [merges.NAME], a node kind for tests only: it shows that a kind which changes how many items
// there are is one file, its bookkeeping the ItemLedger's. With mode = "merge" it makes one item of
// every `size` items it receives (their texts in "texts", their ids in "ids") and answers it, as a
// model answering N prompts in one request would: "answer" holds one line per text, upper-cased.
// With mode = "split" it splits such an answer back into one item per line, each under the id
// and text of the record it answers. Each input record completes once what it was merged into is
// committed (ItemLedger::merge), whether that is the merged item or the parts split from it.
#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

#include "engine/core/text.h"
#include "engine/runtime/build_context.h"
#include "engine/runtime/node_runtime.h"
#include "tests/nodes/merge_kind.h"

namespace flowbatch::test {
namespace {

struct MergeConfig final : NodeConfig {
  bool split = false;
  std::size_t size{};
  std::string label() const override { return split ? "split" : fmt::format("merge {}", size); }
  std::optional<std::vector<std::string>> fields_added() const override {
    return std::vector<std::string>{"texts", "ids", "answer"};
  }
};

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
  return text;
}

std::string text_of(const Item& item) {
  const auto* text = item.find("text");
  return text && text->is_string() ? std::string(text->get_string()) : "";
}

class MergeRuntime final : public NodeRuntime {
 public:
  MergeRuntime(const MergeConfig& config, BuildContext& context)
      : config_(config),
        run_(context.run),
        stats_(context.stats),
        out_(context.output(0)),
        node_(context.graph, flow::unlimited, [this](const Packet& p) {
          if (!p.is_tick()) receive(*p.items);
          return flow::continue_msg();
        }) {}

  flow::receiver<Packet>* input() override { return &node_; }

 private:
  void receive(ItemVector& items) {
    stats_.received.fetch_add(items.size(), std::memory_order_relaxed);
    ItemVector out;
    if (config_.split) {
      for (Item& item : items) split(item, out);
    } else {
      for (std::size_t first = 0; first < items.size(); first += config_.size) {
        ItemVector group(std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(first)),
                         std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(
                                                                     std::min(items.size(), first + config_.size))));
        out.push_back(merge(group));
      }
    }
    out_.emit(std::move(out));
  }

  Item merge(ItemVector& group) {
    Item merged;
    boost::json::array texts, ids;
    std::string answer;
    for (const Item& item : group) {
      texts.emplace_back(boost::json::string(text_of(item)));
      ids.emplace_back(boost::json::string(item.id));
      answer += (answer.empty() ? "" : "\n") + upper(text_of(item));
    }
    merged.id = group.front().id + "+" + std::to_string(group.size() - 1);
    merged.set("texts", std::move(texts));
    merged.set("ids", std::move(ids));
    merged.set("answer", boost::json::string(answer));
    run_.ledger.merge(group, merged);
    return merged;
  }

  void split(Item& merged, ItemVector& out) {
    const auto* ids = merged.find("ids");
    const auto* texts = merged.find("texts");
    if (!ids || !ids->is_array() || !texts || !texts->is_array()) {
      out.push_back(std::move(merged));  // not a merged item: it goes on as it is
      return;
    }
    const std::vector<std::string> lines = flowbatch::split(std::string_view(merged.find("answer")->as_string()), '\n');
    const ItemTrace before = merged.trace;
    const std::size_t first = out.size();
    for (std::size_t i = 0; i < ids->as_array().size(); ++i) {
      Item& part = out.emplace_back();
      part.id = std::string(ids->as_array()[i].as_string());
      part.set("text", texts->as_array()[i]);
      part.set("answer", boost::json::string(i < lines.size() ? lines[i] : std::string()));
    }
    run_.ledger.split(merged, before, out, first, false, &stats_);
  }

  const MergeConfig& config_;
  RunState& run_;
  NodeStats& stats_;
  OutputPort& out_;
  flow::function_node<Packet, flow::continue_msg> node_;
};

}  // namespace

NodeKind merge_kind() {
  NodeKind k;
  k.table = "merges";
  k.name = "merge";
  k.summary = "(tests) merges every `size` items into one answered item, or splits such an answer back";
  k.keys = {{"mode", KeyKind::string, false, "merge", "merge | split"},
            {"size", KeyKind::integer, false, "3", "merge: how many items make one"}};
  k.outputs = {{"", PortKind::items}};
  k.accepts = {PortKind::items};
  k.parse = [](ParseContext& ctx) -> std::unique_ptr<NodeConfig> {
    auto config = std::make_unique<MergeConfig>();
    const std::string mode = ctx.options.string("mode");
    if (mode != "merge" && mode != "split") ctx.options.error("mode", "must be merge or split");
    config->split = mode == "split";
    const std::int64_t size = ctx.options.integer("size");
    if (size < 1) ctx.options.error("size", "must be at least 1");
    config->size = static_cast<std::size_t>(std::max<std::int64_t>(1, size));
    return config;
  };
  k.build = [](const NodeConfig& config, BuildContext& context) -> std::unique_ptr<NodeRuntime> {
    return std::make_unique<MergeRuntime>(static_cast<const MergeConfig&>(config), context);
  };
  return k;
}

}  // namespace flowbatch::test

#include "engine/graph/dot.h"

#include <fmt/format.h>

namespace flowbatch {
namespace {

std::string dot_id(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

const char* shape_of(const NodeKind& kind) {
  if (kind.accepts.empty()) return "cds";
  if (kind.terminal) return "folder";
  if (kind.breaks_cycles) return "octagon";
  return "box";
}

}  // namespace

std::string to_dot(const Plan& plan) {
  std::string out = fmt::format(
      "digraph {} {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n"
      "  edge [fontname=\"Helvetica\", fontsize=9];\n",
      dot_id(plan.pipeline.name));
  for (const auto& p : plan.providers) {
    const RateSettings& r = p.settings.rate;
    std::string limits = r.adaptive ? fmt::format("max_concurrency=adaptive (<= {})", r.concurrency_limit)
                                    : fmt::format("max_concurrency={}", r.concurrency_limit);
    if (r.requests_per_minute > 0) limits += fmt::format("\nrequests_per_minute={:g}", r.requests_per_minute);
    if (r.tokens_per_minute > 0) limits += fmt::format("\ntokens_per_minute={:g}", r.tokens_per_minute);
    out += fmt::format("  {} [shape=note, style=dashed, label={}];\n", dot_id("provider:" + p.name),
                       dot_id(fmt::format("provider {}\n{}\n{}", p.name, p.type, limits)));
  }
  for (const auto& node : plan.nodes) {
    std::string label = node.name + "\n" + node.kind->name;
    if (!node.type.empty()) label += ": " + node.type;
    if (node.config) {
      const std::string extra = node.config->label();
      if (!extra.empty()) label += "\n" + extra;
    }
    std::string style = node.kind->table == "dead_letters" ? ", color=firebrick" : "";
    if (node.implicit) style += ", style=dashed";
    out += fmt::format("  {} [shape={}, label={}{}];\n", dot_id(node.name), shape_of(*node.kind), dot_id(label), style);
  }
  for (const auto& e : plan.edges) {
    const std::string& port = plan.nodes[e.from].kind->outputs[e.port].name;
    std::string attrs;
    if (!port.empty()) attrs = "label=" + dot_id(port);
    if (e.implicit) attrs += std::string(attrs.empty() ? "" : ", ") + "style=dashed";
    out += fmt::format("  {} -> {}{};\n", dot_id(plan.nodes[e.from].name), dot_id(plan.nodes[e.to].name),
                       attrs.empty() ? "" : " [" + attrs + "]");
  }
  out += "}\n";
  return out;
}

}  // namespace flowbatch

#pragma once
// The engine-side description of a node kind (a role table such as [batches.*] or [calls.*]).
// Kinds live in nodes/ and are registered by nodes/builtin.cpp; the compiler and the runtime's
// assembly use only this description, so a new kind needs neither changed. (The compiler does know
// two tables by name: it counts [sources] for ParseContext::source_count, and adds an implicit
// [dead_letters] node for unconnected error ports: see engine/graph/graph_checks.cpp.)
#include <boost/json/object.hpp>
#include <filesystem>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/config/option_reader.h"
#include "engine/core/diagnostics.h"
#include "flowbatch/options.h"

namespace flowbatch {

/// What travels on a port. The compiler checks every edge against what the consumer accepts.
enum class PortKind : std::uint8_t {
  items,    ///< items on their way (results, inputs)
  failed,   ///< items that failed a call or a transform, with their Failure
  invalid,  ///< input records that could not be decoded
};
std::string_view to_string(PortKind kind);

struct PortSpec {
  std::string name;  ///< "" for the default port (named by the node alone)
  PortKind kind = PortKind::items;
};

/// Which registered type family a kind's `type` key selects.
enum class TypeFamily : std::uint8_t { none, source, sink, transform };

/// An item field named by a node's template, and where: `validate` checks it against the input.
struct FieldRead {
  std::string field;  ///< as written in the template: "meta.lang"
  std::string key;    ///< the option holding the template: "prompt"
  Location where;
};

/// A node's validated, typed options. Each kind derives its own; nothing downstream reads TOML.
class NodeConfig {
 public:
  virtual ~NodeConfig() = default;
  /// A short description for graph dumps ("max_items=20 group_by=category").
  virtual std::string label() const { return {}; }
  /// The item fields the node's templates name.
  virtual std::vector<FieldRead> fields_read() const { return {}; }
  /// The fields the node adds to the items it passes on; nothing when it may add any field (a JSON
  /// answer merged into the item, a plugin's transform), which ends `validate`'s field check.
  virtual std::optional<std::vector<std::string>> fields_added() const { return std::vector<std::string>{}; }
  /// Sources: how many records the input holds, when that can be counted without decoding them
  /// (read by `estimate` only).
  virtual std::optional<std::uint64_t> count_records() const { return std::nullopt; }
  /// Sources: the decoded fields of the first `n` records (read by `validate` only).
  virtual std::vector<boost::json::object> sample_records(std::size_t n) const {
    (void)n;
    return {};
  }
};

class TypeRegistry;
struct PlanProvider;
struct PipelineOptions;

/// What a kind's parse() may look at.
struct ParseContext {
  OptionReader& options;
  const std::string& type;  ///< the selected type's name, for typed kinds
  const TypeRegistry& types;
  const std::vector<PlanProvider>& providers;
  const PipelineOptions& pipeline;
  const std::filesystem::path& replay_from;  ///< non-empty under `flowbatch replay`
  std::size_t source_count = 0;              ///< how many [sources] the graph has
};

class BuildContext;  // engine/runtime/build_context.h
class NodeRuntime;   // engine/runtime/node_runtime.h

struct NodeKind {
  std::string table;  ///< the TOML table holding nodes of this kind: "batches"
  std::string name;   ///< singular, for messages: "batch"
  std::string summary;
  std::vector<KeySpec> keys;  ///< keys of the kind itself (a typed kind adds its type's keys)
  TypeFamily family = TypeFamily::none;
  std::string default_type;  ///< typed kinds: the type when `type` is absent ("" = required)
  std::vector<PortSpec> outputs;
  std::vector<PortKind> accepts;  ///< what its inputs may carry; empty: it takes no inputs
  bool breaks_cycles = false;     ///< a cycle through a node of this kind is allowed (retry)
  bool terminal = false;          ///< items end here (sinks, dead letters)
  std::function<std::unique_ptr<NodeConfig>(ParseContext&)> parse;
  std::function<std::unique_ptr<NodeRuntime>(const NodeConfig&, BuildContext&)> build;

  const PortSpec* port(std::string_view port_name) const {
    for (const auto& p : outputs)
      if (p.name == port_name) return &p;
    return nullptr;
  }
  bool accepts_kind(PortKind k) const {
    for (PortKind a : accepts)
      if (a == k) return true;
    return false;
  }
};

/// The keys a node of `kind` has besides its kind's and its type's: `inputs` when it takes inputs,
/// `type` when it is typed. The compiler, `flowbatch plugins` and `flowbatch schema` share them.
std::vector<KeySpec> node_common_keys(const NodeKind& kind);

}  // namespace flowbatch

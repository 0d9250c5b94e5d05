#include "engine/graph/compiler.h"
#include "engine/graph/fingerprints.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>
#include <unordered_map>

#include "engine/config/expanded_secrets.h"
#include "engine/config/option_reader.h"
#include "engine/config/toml_loader.h"
#include "engine/core/exceptions.h"
#include "engine/core/text.h"
#include "engine/graph/graph_checks.h"
#include "engine/graph/pipeline_options.h"
#include "engine/plugins/plugin_loader.h"

namespace flowbatch {
namespace {

struct InputRef {
  std::string text;
  Location where;
};

class Compiler {
 public:
  Compiler(TypeRegistry& registry, Redactor& redactor, const CompileOptions& options, Diagnostics& diagnostics,
           std::filesystem::path graph_file)
      : registry_(registry), redactor_(redactor), options_(options), diagnostics_(diagnostics) {
    plan_.graph_file = std::move(graph_file);
  }

  std::optional<Plan> run(const ConfigValue& root) {
    register_expanded_secrets(root, "", redactor_, diagnostics_);  // before anything prints a value
    check_top_level(root);
    read_pipeline(root);
    if (options_.load_plugins) load_plugins(plan_.pipeline.plugins, registry_, diagnostics_);  // before nodes name them
    read_providers(root);
    read_notify(root);
    read_alerts(root);
    read_nodes(root);
    plan_.fingerprints = fingerprint_graph(root);
    if (plan_.nodes.empty() && !diagnostics_.has_errors())
      diagnostics_.error(Location{plan_.graph_file.string(), 0, 0}, "",
                         "the graph has no nodes; add a [sources.NAME] table");
    resolve_edges();
    GraphChecks checks{plan_, registry_, redactor_, options_.check_environment, diagnostics_, options_.outputs_under};
    checks.check_sources_exist();
    checks.route_unconnected_ports(pipeline_dead_letter_where_);
    checks.check_cycles();
    checks.check_file_conflicts(options_.replay_from);
    checks.check_no_linked_outputs();
    if (!diagnostics_.has_errors()) checks.check_template_fields();
    if (diagnostics_.has_errors()) return std::nullopt;
    return std::move(plan_);
  }

 private:
  /// Said after "unknown type" when the graph names plugins that were not loaded.
  std::string plugins_hint() const {
    if (options_.load_plugins || plan_.pipeline.plugins.empty()) return "";
    return "; the graph's plugins were not loaded (a plugin is code that runs when loaded): pass --load-plugins to "
           "check their types";
  }

  OptionReader::Context reader_context() { return {diagnostics_, redactor_, options_.check_environment}; }

  void check_top_level(const ConfigValue& root) {
    std::vector<std::string> known = {"pipeline", "providers", "notify", "alerts"};
    for (const auto& kind : registry_.kinds()) known.push_back(kind.table);
    for (const auto& e : root.entries) {
      if (std::find(known.begin(), known.end(), e.key) == known.end()) {
        diagnostics_.error(e.key_where, e.key,
                           "unknown table" + did_you_mean(e.key, known) + "; tables are " + join(known, ", "));
      } else if (!e.value.is_table()) {
        diagnostics_.error(e.value.where, e.key, fmt::format("expected a table, found {}", e.value.kind_name()));
      }
    }
  }

  void read_pipeline(const ConfigValue& root) {
    const ConfigValue* table = root.find("pipeline");
    ConfigValue empty;
    empty.where = Location{plan_.graph_file.string(), 0, 0};
    empty.base_dir = root.base_dir;
    if (!table || !table->is_table()) table = &empty;
    OptionReader reader(*table, "pipeline", "pipeline", pipeline_keys(), reader_context());
    plan_.pipeline = read_pipeline_options(reader, plan_.graph_file);
    plan_.pipeline.state_where = reader.location("state");
    plan_.pipeline.cache_where = reader.location("cache");
    if (reader.has("dead_letter")) pipeline_dead_letter_where_ = reader.location("dead_letter");
  }

  void read_providers(const ConfigValue& root) {
    const ConfigValue* providers = root.find("providers");
    if (!providers || !providers->is_table()) return;
    for (const auto& e : providers->entries) {
      const std::string subject = "providers." + e.key;
      if (!e.value.is_table()) {
        diagnostics_.error(e.value.where, subject, fmt::format("expected a table, found {}", e.value.kind_name()));
        continue;
      }
      PlanProvider p;
      p.name = e.key;
      p.where = e.key_where;
      const ConfigValue* type_value = e.value.find("type");
      const ProviderType* type = nullptr;
      if (type_value && type_value->kind == ConfigValue::Kind::string) {
        p.type = type_value->text;
        type = registry_.provider(p.type);
        if (!type) {
          diagnostics_.error(type_value->where, subject + ".type",
                             fmt::format("unknown provider type \"{}\"{}; known types: {}{}", p.type,
                                         did_you_mean(p.type, registry_.provider_names()),
                                         join(registry_.provider_names(), ", "), plugins_hint()));
        }
      }
      std::vector<KeySpec> schema = provider_keys();
      if (type) schema.insert(schema.end(), type->keys.begin(), type->keys.end());
      if (type_value && !type) {  // keys cannot be checked without the type; its error says enough
        plan_.providers.push_back(std::move(p));
        continue;
      }
      OptionReader reader(e.value, subject, e.key, schema, reader_context());
      p.settings = read_provider_settings(reader);
      p.prices = read_provider_prices(reader, type ? std::string_view(type->prices) : std::string_view());
      if (type) {
        p.remote = type->remote;
        const std::size_t errors_before = diagnostics_.error_count();
        try {
          p.provider = type->configure(reader);
        } catch (...) {  // a plugin type that throws instead of reporting through Options::error
          diagnostics_.error(e.key_where, subject,
                             "the provider type failed to configure: " + current_exception_message());
        }
        if (!p.provider && diagnostics_.error_count() == errors_before)
          diagnostics_.error(e.key_where, subject, "the provider type could not be configured");
        if (p.provider && !p.provider->batch_api() && !p.settings.batch_enqueued_tokens.empty())
          reader.error("batch_enqueued_tokens",
                       fmt::format("provider type \"{}\" has no batch API: the limit would hold nothing", p.type));
      }
      warn_plain_http(e.value, subject, reader.holds_secret());
      plan_.providers.push_back(std::move(p));
    }
  }

  void read_notify(const ConfigValue& root) {
    read_named_tables(root, "notify", notify_keys(), [&](OptionReader& reader, const std::string& subject) {
      NotifyRule rule = read_notify_rule(reader, subject, graph_folder());
      if (rule.on_commit && plan_.pipeline.state.empty())
        reader.error("on", "\"commit\" needs the run's state ([pipeline] state): without one nothing is committed");
      plan_.notify.push_back(std::move(rule));
    });
  }

  void read_alerts(const ConfigValue& root) {
    read_named_tables(root, "alerts", alert_keys(), [&](OptionReader& reader, const std::string& subject) {
      AlertRule rule = read_alert_rule(reader, subject, graph_folder());
      if (rule.pause && plan_.pipeline.listen.empty())
        reader.warning("pause",
                       "without pipeline.listen (or --listen) nothing can resume the paused run: it can only be "
                       "drained (Ctrl-C) and run again");
      plan_.alerts.push_back(std::move(rule));
    });
  }

  /// Each [TABLE.NAME] of a table that holds no nodes (notify, alerts): `read` gets a reader of
  /// its keys and its dotted name.
  template <class Read>
  void read_named_tables(const ConfigValue& root, const std::string& table, const std::vector<KeySpec>& keys,
                         Read read) {
    const ConfigValue* tables = root.find(table);
    if (!tables || !tables->is_table()) return;
    for (const auto& e : tables->entries) {
      const std::string subject = table + "." + e.key;
      if (!e.value.is_table()) {
        diagnostics_.error(e.value.where, subject, fmt::format("expected a table, found {}", e.value.kind_name()));
        continue;
      }
      OptionReader reader(e.value, subject, subject, keys, reader_context());
      read(reader, subject);
    }
  }

  /// Where commands of notifications and alerts run.
  std::filesystem::path graph_folder() const {
    const std::filesystem::path folder = plan_.graph_file.parent_path();
    return folder.empty() ? "." : folder;
  }

  /// A key sent over plain http:// can be read by anyone on the way; loopback (a local proxy or
  /// mock) never leaves the machine.
  void warn_plain_http(const ConfigValue& table, const std::string& subject, bool holds_secret) {
    bool sends_key = holds_secret;
    if (const ConfigValue* headers = table.find("headers")) sends_key = sends_key || has_expansion(*headers);
    const ConfigValue* url = find_plain_http_url(table);
    if (url && sends_key)
      diagnostics_.warning(url->where, subject,
                           "this provider's key would be sent unencrypted over http:// to a host that is not this "
                           "machine; use https://");
  }

  static bool has_expansion(const ConfigValue& v) {
    if (!v.expanded.empty()) return true;
    for (const auto& item : v.items)
      if (has_expansion(item)) return true;
    for (const auto& e : v.entries)
      if (has_expansion(e.value)) return true;
    return false;
  }

  void read_nodes(const ConfigValue& root) {
    std::set<std::string> seen;
    if (const NodeKind* sources = registry_.kind_for_table("sources"))
      if (const ConfigValue* t = root.find(sources->table); t && t->is_table()) source_count_ = t->entries.size();
    for (const auto& table_entry : root.entries) {
      const NodeKind* kind = registry_.kind_for_table(table_entry.key);
      if (!kind || !table_entry.value.is_table()) continue;
      for (const auto& e : table_entry.value.entries) read_node(*kind, e, seen);
    }
  }

  void read_node(const NodeKind& kind, const ConfigEntry& e, std::set<std::string>& seen) {
    const std::string subject = kind.table + "." + e.key;
    if (!is_valid_name(e.key)) {
      diagnostics_.error(e.key_where, subject,
                         "node names may use only letters, digits, '_' and '-' (a '.' would be read as a port)");
      return;
    }
    if (!seen.insert(e.key).second) {
      diagnostics_.error(e.key_where, subject,
                         fmt::format("a node named \"{}\" is already defined; names are shared by "
                                     "all node tables",
                                     e.key));
      return;
    }
    if (!e.value.is_table()) {
      diagnostics_.error(e.value.where, subject, fmt::format("expected a table, found {}", e.value.kind_name()));
      return;
    }
    PlanNode node;
    node.name = e.key;
    node.kind = &kind;
    node.where = e.key_where;
    read_inputs(kind, e.value, subject, plan_.nodes.size());
    std::vector<KeySpec> schema = schema_for(kind, e.value, subject, node.type);
    if (schema.empty() && kind.family != TypeFamily::none) {  // unknown type: already reported
      plan_.nodes.push_back(std::move(node));
      return;
    }
    OptionReader::Context reading = reader_context();
    if (kind.terminal) reading.outputs_under = options_.outputs_under;
    OptionReader reader(e.value, subject, e.key, std::move(schema), reading);
    ParseContext context{reader,       node.type, registry_, plan_.providers, plan_.pipeline, options_.replay_from,
                         source_count_};
    const std::size_t errors_before = diagnostics_.error_count();
    try {
      node.config = kind.parse(context);
    } catch (...) {  // a plugin type that throws instead of reporting through Options::error
      diagnostics_.error(e.key_where, subject, "the node failed to configure: " + current_exception_message());
    }
    if (!node.config && diagnostics_.error_count() == errors_before)
      diagnostics_.error(e.key_where, subject, "the node could not be configured");
    node.files = file_uses(reader, kind);
    plan_.nodes.push_back(std::move(node));
  }

  /// The full key list of a node: `inputs`, `type`, the kind's keys and its type's keys.
  std::vector<KeySpec> schema_for(const NodeKind& kind, const ConfigValue& table, const std::string& subject,
                                  std::string& type_out) {
    std::vector<KeySpec> schema = node_common_keys(kind);
    if (kind.family != TypeFamily::none) {
      const ConfigValue* type_value = table.find("type");
      type_out = type_value && type_value->kind == ConfigValue::Kind::string ? type_value->text : kind.default_type;
      const std::vector<KeySpec>* type_keys = registry_.type_keys(kind.family, type_out);
      if (!type_keys) {
        const auto names = registry_.names(kind.family);
        diagnostics_.error(type_value ? type_value->where : table.where, subject + ".type",
                           fmt::format("unknown {} type \"{}\"{}; known types: {}{}", kind.name, type_out,
                                       did_you_mean(type_out, names),
                                       names.empty() ? "none built in" : join(names, ", "), plugins_hint()));
        return {};
      }
      schema.insert(schema.end(), type_keys->begin(), type_keys->end());
    }
    schema.insert(schema.end(), kind.keys.begin(), kind.keys.end());
    return schema;
  }

  void read_inputs(const NodeKind& kind, const ConfigValue& table, const std::string& subject, std::size_t node_index) {
    const ConfigValue* inputs = table.find("inputs");
    if (!inputs || inputs->kind != ConfigValue::Kind::array) return;  // reported by the OptionReader
    if (kind.accepts.empty()) return;                                 // likewise ("unknown key")
    if (inputs->items.empty()) diagnostics_.error(inputs->where, subject + ".inputs", "must name at least one input");
    for (const auto& v : inputs->items)
      if (v.kind == ConfigValue::Kind::string) pending_inputs_.push_back({node_index, {v.text, v.where}});
  }

  void resolve_edges() {
    std::vector<std::string> names;
    std::unordered_map<std::string_view, std::size_t> index;  // by name: a big graph is not quadratic
    for (std::size_t i = 0; i < plan_.nodes.size(); ++i) {
      names.push_back(plan_.nodes[i].name);
      index.emplace(plan_.nodes[i].name, i);
    }
    for (const auto& [consumer, ref] : pending_inputs_) resolve_edge(consumer, ref, names, index);
  }

  void resolve_edge(std::size_t consumer, const InputRef& ref, const std::vector<std::string>& names,
                    const std::unordered_map<std::string_view, std::size_t>& index) {
    const PlanNode& to = plan_.nodes[consumer];
    const std::string subject = to.kind->table + "." + to.name + ".inputs";
    const auto dot = ref.text.find('.');
    const std::string node_name = ref.text.substr(0, dot);
    const std::string port_name = dot == std::string::npos ? "" : ref.text.substr(dot + 1);
    const auto found = index.find(node_name);
    if (found == index.end()) {
      diagnostics_.error(ref.where, subject,
                         fmt::format("unknown node \"{}\"{}", node_name, did_you_mean(node_name, names)));
      return;
    }
    const std::size_t from = found->second;
    const NodeKind& kind = *plan_.nodes[from].kind;
    std::vector<std::string> ports;
    std::size_t port_index = kind.outputs.size();
    for (std::size_t i = 0; i < kind.outputs.size(); ++i) {
      ports.push_back(plan_.port_name(from, i));
      if (kind.outputs[i].name == port_name) port_index = i;
    }
    if (port_index == kind.outputs.size()) {
      const std::string wanted = ref.text;
      diagnostics_.error(ref.where, subject,
                         kind.outputs.empty()
                             ? fmt::format("{} \"{}\" has no outputs to take", kind.name, node_name)
                             : fmt::format("{} \"{}\" has no port \"{}\"{}; its ports: {}", kind.name, node_name,
                                           port_name, did_you_mean(wanted, ports), join(ports, ", ")));
      return;
    }
    const PortKind carried = kind.outputs[port_index].kind;
    if (!to.kind->accepts_kind(carried)) {
      diagnostics_.error(ref.where, subject,
                         fmt::format("\"{}\" carries {}, which a {} cannot take{}", ref.text, to_string(carried),
                                     to.kind->name, routing_hint(carried, *to.kind)));
      return;
    }
    plan_.edges.push_back(PlanEdge{from, port_index, consumer, false});
  }

  static std::string routing_hint(PortKind carried, const NodeKind& consumer) {
    if (carried == PortKind::items) return "";
    if (consumer.breaks_cycles) return " (a retry takes failed items from a call's error port)";
    return "; send failed items to a retry or a dead letter";
  }

  TypeRegistry& registry_;
  Redactor& redactor_;
  const CompileOptions& options_;
  Diagnostics& diagnostics_;
  Plan plan_;
  std::vector<std::pair<std::size_t, InputRef>> pending_inputs_;
  std::optional<Location> pipeline_dead_letter_where_;
  std::size_t source_count_ = 0;
};

}  // namespace

std::string Plan::port_name(std::size_t node, std::size_t port) const {
  const PlanNode& n = nodes[node];
  const std::string& p = n.kind->outputs[port].name;
  return p.empty() ? n.name : n.name + "." + p;
}

std::vector<const PlanEdge*> Plan::inputs_of(std::size_t node) const {
  std::vector<const PlanEdge*> out;
  for (const auto& e : edges)
    if (e.to == node) out.push_back(&e);
  return out;
}

std::vector<const PlanEdge*> Plan::outputs_of(std::size_t node, std::size_t port) const {
  std::vector<const PlanEdge*> out;
  for (const auto& e : edges)
    if (e.from == node && e.port == port) out.push_back(&e);
  return out;
}

CompileResult compile_tree(ConfigValue root, const std::filesystem::path& graph_file, TypeRegistry& registry,
                           Redactor& redactor, const CompileOptions& options, Diagnostics diagnostics) {
  for (const auto& assignment : options.overrides) apply_override(root, assignment, diagnostics);
  CompileResult result;
  Compiler compiler(registry, redactor, options, diagnostics, graph_file);
  result.plan = compiler.run(root);
  result.diagnostics = std::move(diagnostics);
  if (result.diagnostics.has_errors()) result.plan.reset();
  return result;
}

CompileResult compile_file(const std::filesystem::path& graph_file, TypeRegistry& registry, Redactor& redactor,
                           const CompileOptions& options) {
  Diagnostics diagnostics;
  ConfigValue root = load_toml_file(graph_file, diagnostics);
  if (diagnostics.has_errors() && root.entries.empty()) {  // unreadable or not TOML: nothing to check
    CompileResult result;
    result.diagnostics = std::move(diagnostics);
    return result;
  }
  return compile_tree(std::move(root), graph_file, registry, redactor, options, std::move(diagnostics));
}

}  // namespace flowbatch

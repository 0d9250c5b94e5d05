#include "engine/graph/schema.h"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <set>

#include "engine/core/text.h"
#include "engine/graph/pipeline_options.h"

namespace flowbatch {
namespace json = boost::json;

namespace {

std::optional<std::int64_t> as_integer(std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<double> as_number(std::string_view text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

json::array strings(const std::vector<std::string>& list) {
  json::array out;
  for (const auto& s : list) out.emplace_back(s);
  return out;
}

/// One key's schema: its JSON type (TOML's, as read into JSON), meaning, default and choices.
json::object key_schema(const KeySpec& k) {
  json::object s;
  std::string description = k.doc;
  json::value fallback = default_as_json(k);
  // A default that is a description ("one per core", ".flowbatch/<graph>.db") is told, not offered.
  if (fallback.is_null() && !k.default_value.empty()) description += " (default: " + k.default_value + ")";
  if (!description.empty()) s["description"] = description;
  json::object item{{"type", "string"}};
  if (!k.choices.empty()) item["enum"] = strings(k.choices);
  switch (k.kind) {
    case KeyKind::string:
      s["type"] = "string";
      if (!k.choices.empty()) s["enum"] = strings(k.choices);
      break;
    case KeyKind::path:  // an empty path names no file (OptionReader refuses it)
      s["type"] = "string";
      s["minLength"] = 1;
      break;
    case KeyKind::integer: s["type"] = "integer"; break;
    case KeyKind::number: s["type"] = "number"; break;
    case KeyKind::boolean: s["type"] = "boolean"; break;
    case KeyKind::string_list:
      s["type"] = "array";
      s["items"] = std::move(item);
      break;
    case KeyKind::any: break;  // any TOML value: the type reads and checks it itself
  }
  if (!fallback.is_null()) s["default"] = std::move(fallback);
  return s;
}

/// A table holding exactly `keys` (the first `type` key, if any, pinned to `type_name`).
json::object table_schema(const std::string& description, const std::vector<KeySpec>& keys,
                          const std::string& type_name = {}, bool type_required = true) {
  json::object properties;
  json::array required;
  for (const KeySpec& k : keys) {
    if (properties.contains(k.name)) continue;  // a type's key shadowing a kind's: the first one is read first
    if (k.name == "type" && !type_name.empty()) {
      properties["type"] = json::object{{"const", type_name}, {"description", "the type of this table"}};
      if (type_required) required.emplace_back("type");
      continue;
    }
    properties[k.name] = key_schema(k);
    if (k.required) required.emplace_back(k.name);
  }
  json::object s{{"type", "object"}};
  if (!description.empty()) s["description"] = description;
  s["properties"] = std::move(properties);
  if (!required.empty()) s["required"] = std::move(required);
  s["additionalProperties"] = false;
  return s;
}

/// A table of named tables ([sources.NAME]), each described by $defs/<table>.
json::object named_tables(const std::string& table, const std::string& description, bool node_names) {
  json::object s{{"type", "object"}, {"description", description}};
  // Node names are shared by ports ("node.port"): only letters, digits, '_' and '-' (is_valid_name).
  if (node_names) s["propertyNames"] = json::object{{"pattern", "^[A-Za-z0-9_-]+$"}};
  s["additionalProperties"] = json::object{{"$ref", "#/$defs/" + table}};
  return s;
}

/// The $defs for one typed table: a variant per type and a `oneOf` over them. A family with no
/// type (transforms without plugins) refuses any node, as `validate` does.
template <class Map>
void typed_defs(json::object& defs, const std::string& table, const std::string& description,
                const std::vector<KeySpec>& before, const std::vector<KeySpec>& after, const Map& types,
                const std::string& default_type) {
  json::array variants;
  for (const auto& [name, entry] : types) {
    std::vector<KeySpec> keys = before;
    keys.insert(keys.end(), entry.type.keys.begin(), entry.type.keys.end());
    keys.insert(keys.end(), after.begin(), after.end());
    std::string ref = table;
    ref.append(".").append(name);
    defs[ref] = table_schema(entry.type.summary, keys, name, name != default_type);
    variants.push_back(json::object{{"$ref", "#/$defs/" + ref}});
  }
  if (variants.empty()) {
    defs[table] =
        json::object{{"description", description + "; no type of this table is built in (a plugin adds them)"},
                     {"not", json::object{}}};
    return;
  }
  json::object s{{"description", description}, {"oneOf", std::move(variants)}};
  if (!default_type.empty()) s["description"] = description + " (type: default \"" + default_type + "\")";
  defs[table] = std::move(s);
}

template <class Map>
void add_type_keys(std::set<std::string>& out, const Map& types) {
  for (const auto& [name, entry] : types)
    for (const auto& k : entry.type.keys) out.insert(k.name);
}

void write_pretty(std::string& out, const json::value& v, int indent) {
  const auto newline = [&](int depth) { out += '\n' + std::string(static_cast<std::size_t>(depth) * 2, ' '); };
  if (v.is_object() && !v.get_object().empty()) {
    out += '{';
    bool first = true;
    for (const auto& [key, value] : v.get_object()) {
      if (!first) out += ',';
      first = false;
      newline(indent + 1);
      out += json::serialize(json::string(key)) + ": ";
      write_pretty(out, value, indent + 1);
    }
    newline(indent);
    out += '}';
    return;
  }
  if (v.is_array()) {
    const auto& a = v.get_array();
    const bool flat = std::none_of(a.begin(), a.end(), [](const json::value& e) { return e.is_structured(); });
    if (flat) {
      out += json::serialize(v);
      return;
    }
    out += '[';
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i) out += ',';
      newline(indent + 1);
      write_pretty(out, a[i], indent + 1);
    }
    newline(indent);
    out += ']';
    return;
  }
  out += json::serialize(v);
}

}  // namespace

json::value default_as_json(const KeySpec& k) {
  const std::string& text = k.default_value;
  if (text.empty()) return nullptr;
  switch (k.kind) {
    case KeyKind::string:
    case KeyKind::path:
      if (text.find('<') != std::string::npos) return nullptr;  // a placeholder: "<graph>"
      return json::string(text);
    case KeyKind::integer:
      if (auto v = as_integer(text)) return *v;
      return nullptr;
    case KeyKind::number:
      if (auto v = as_integer(text)) return *v;
      if (auto v = as_number(text)) return *v;
      return nullptr;
    case KeyKind::boolean:
      if (text == "true" || text == "false") return text == "true";
      return nullptr;
    case KeyKind::string_list: return strings(split(text, ','));
    case KeyKind::any:
      if (auto v = as_integer(text)) return *v;
      if (auto v = as_number(text)) return *v;
      return json::string(text);
  }
  return nullptr;
}

std::vector<std::string> graph_tables(const TypeRegistry& registry) {
  std::vector<std::string> tables = {"pipeline", "providers", "notify", "alerts"};
  for (const auto& kind : registry.kinds()) tables.push_back(kind.table);
  return tables;
}

json::value graph_schema(const TypeRegistry& registry) {
  json::object properties;
  json::object defs;
  properties["pipeline"] = table_schema("the job as a whole", pipeline_keys());
  properties["providers"] =
      named_tables("providers", "model APIs, each shared by every call node that names it", false);
  typed_defs(defs, "providers", "a model API", provider_keys(), {}, registry.providers(), "");
  properties["notify"] =
      named_tables("notify", "tell downstream systems that results are ready (webhook or command)", false);
  defs["notify"] = table_schema("a notification", notify_keys());
  properties["alerts"] =
      named_tables("alerts", "rules over a sliding window of the run, and what to do when one fires", false);
  defs["alerts"] = table_schema("an alert rule", alert_keys());
  for (const NodeKind& kind : registry.kinds()) {
    properties[kind.table] = named_tables(kind.table, kind.summary, true);
    const std::vector<KeySpec> common = node_common_keys(kind);
    switch (kind.family) {
      case TypeFamily::none: {
        std::vector<KeySpec> keys = common;
        keys.insert(keys.end(), kind.keys.begin(), kind.keys.end());
        defs[kind.table] = table_schema("a " + kind.name, keys);
        break;
      }
      case TypeFamily::source:
        typed_defs(defs, kind.table, "a " + kind.name, common, kind.keys, registry.sources(), kind.default_type);
        break;
      case TypeFamily::sink:
        typed_defs(defs, kind.table, "a " + kind.name, common, kind.keys, registry.sinks(), kind.default_type);
        break;
      case TypeFamily::transform:
        typed_defs(defs, kind.table, "a " + kind.name, common, kind.keys, registry.transforms(), kind.default_type);
        break;
    }
  }
  return json::object{
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"title", "flowbatch graph"},
      {"description",
       "A flowbatch pipeline (TOML). Generated by `flowbatch schema` from the node types it knows; "
       "`flowbatch validate` checks what a schema cannot (edges, cycles, files)."},
      {"type", "object"},
      {"properties", std::move(properties)},
      {"additionalProperties", false},
      {"$defs", std::move(defs)},
  };
}

std::vector<std::string> table_keys(const TypeRegistry& registry, const std::string& table) {
  std::set<std::string> keys;
  const auto add = [&](const std::vector<KeySpec>& list) {
    for (const auto& k : list) keys.insert(k.name);
  };
  if (table == "pipeline") add(pipeline_keys());
  if (table == "notify") add(notify_keys());
  if (table == "alerts") add(alert_keys());
  if (table == "providers") {
    add(provider_keys());
    add_type_keys(keys, registry.providers());
  }
  if (const NodeKind* kind = registry.kind_for_table(table)) {
    add(node_common_keys(*kind));
    add(kind->keys);
    if (kind->family == TypeFamily::source) add_type_keys(keys, registry.sources());
    if (kind->family == TypeFamily::sink) add_type_keys(keys, registry.sinks());
    if (kind->family == TypeFamily::transform) add_type_keys(keys, registry.transforms());
  }
  return {keys.begin(), keys.end()};
}

std::string pretty_json(const json::value& value) {
  std::string out;
  write_pretty(out, value, 0);
  return out + "\n";
}

}  // namespace flowbatch

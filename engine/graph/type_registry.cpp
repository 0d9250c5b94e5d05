#include "engine/graph/type_registry.h"

#include <fmt/format.h>

namespace flowbatch {

std::string_view to_string(PortKind kind) {
  switch (kind) {
    case PortKind::items: return "items";
    case PortKind::failed: return "failed items";
    case PortKind::invalid: return "invalid records";
  }
  return "items";
}

std::vector<KeySpec> node_common_keys(const NodeKind& kind) {
  std::vector<KeySpec> keys;
  if (!kind.accepts.empty())
    keys.push_back({"inputs", KeyKind::string_list, true, "", "upstream nodes and ports: [\"node\", \"node.port\"]"});
  if (kind.family != TypeFamily::none)
    keys.push_back({"type", KeyKind::string, kind.default_type.empty(), kind.default_type, "the type of this node"});
  return keys;
}

template <class Type>
void TypeRegistry::insert(std::map<std::string, Entry<Type>, std::less<>>& map, Type type, std::string_view family) {
  if (type.name.empty()) throw IncompleteTypeError(fmt::format("a {} type was registered without a name", family));
  if (!type.configure)
    throw IncompleteTypeError(
        fmt::format("{} type \"{}\" was registered without a configure function", family, type.name));
  auto it = map.find(type.name);
  if (it != map.end()) {
    const std::string first = it->second.origin.empty() ? "built in" : "registered by " + it->second.origin;
    throw DuplicateTypeError(fmt::format("{} type \"{}\" is registered twice: {} and again{}", family, type.name, first,
                                         origin_.empty() ? " as a built-in" : " by " + origin_));
  }
  std::string name = type.name;
  map.emplace(std::move(name), Entry<Type>{std::move(type), origin_});
}

void TypeRegistry::add(SourceType type) { insert(sources_, std::move(type), "source"); }
void TypeRegistry::add(SinkType type) { insert(sinks_, std::move(type), "sink"); }
void TypeRegistry::add(TransformType type) { insert(transforms_, std::move(type), "transform"); }
void TypeRegistry::add(ProviderType type) { insert(providers_, std::move(type), "provider"); }

void TypeRegistry::add_kind(NodeKind kind) {
  if (kind_for_table(kind.table))
    throw DuplicateTypeError(fmt::format("node kind [{}] is registered twice", kind.table));
  kinds_.push_back(std::move(kind));
}

template <class Map>
static auto* lookup(const Map& map, std::string_view name) {
  auto it = map.find(name);
  return it == map.end() ? nullptr : &it->second.type;
}

const SourceType* TypeRegistry::source(std::string_view name) const { return lookup(sources_, name); }
const SinkType* TypeRegistry::sink(std::string_view name) const { return lookup(sinks_, name); }
const TransformType* TypeRegistry::transform(std::string_view name) const { return lookup(transforms_, name); }
const ProviderType* TypeRegistry::provider(std::string_view name) const { return lookup(providers_, name); }

const NodeKind* TypeRegistry::kind_for_table(std::string_view table) const {
  for (const auto& k : kinds_)
    if (k.table == table) return &k;
  return nullptr;
}

template <class Map>
static std::vector<std::string> keys_of(const Map& map) {
  std::vector<std::string> out;
  out.reserve(map.size());
  for (const auto& [name, entry] : map) out.push_back(name);
  return out;
}

std::vector<std::string> TypeRegistry::names(TypeFamily family) const {
  switch (family) {
    case TypeFamily::source: return keys_of(sources_);
    case TypeFamily::sink: return keys_of(sinks_);
    case TypeFamily::transform: return keys_of(transforms_);
    case TypeFamily::none: break;
  }
  return {};
}

std::vector<std::string> TypeRegistry::provider_names() const { return keys_of(providers_); }

const std::vector<KeySpec>* TypeRegistry::type_keys(TypeFamily family, std::string_view name) const {
  switch (family) {
    case TypeFamily::source:
      if (auto* t = source(name)) return &t->keys;
      break;
    case TypeFamily::sink:
      if (auto* t = sink(name)) return &t->keys;
      break;
    case TypeFamily::transform:
      if (auto* t = transform(name)) return &t->keys;
      break;
    case TypeFamily::none: break;
  }
  return nullptr;
}

template <class Map>
static std::string origin_in(const Map& map, std::string_view name) {
  auto it = map.find(name);
  if (it == map.end() || it->second.origin.empty()) return "built-in";
  return it->second.origin;
}

std::string TypeRegistry::origin_of(TypeFamily family, std::string_view name) const {
  switch (family) {
    case TypeFamily::source: return origin_in(sources_, name);
    case TypeFamily::sink: return origin_in(sinks_, name);
    case TypeFamily::transform: return origin_in(transforms_, name);
    case TypeFamily::none: break;
  }
  return "built-in";
}

std::string TypeRegistry::provider_origin(std::string_view name) const { return origin_in(providers_, name); }

}  // namespace flowbatch

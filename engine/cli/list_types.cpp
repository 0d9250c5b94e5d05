#include "engine/cli/list_types.h"

#include <fmt/format.h>

#include <cstdio>

#include "engine/graph/pipeline_options.h"
#include "engine/graph/type_registry.h"

namespace flowbatch {
namespace {

std::string_view kind_word(KeyKind k) {
  switch (k) {
    case KeyKind::string: return "string";
    case KeyKind::integer: return "integer";
    case KeyKind::number: return "number";
    case KeyKind::boolean: return "boolean";
    case KeyKind::string_list: return "[string]";
    case KeyKind::path: return "path";
    case KeyKind::any: return "any";
  }
  return "value";
}

void print_keys(const std::vector<KeySpec>& keys) {
  for (const auto& k : keys) {
    std::string extra =
        k.required ? " (required)" : (k.default_value.empty() ? "" : " (default " + k.default_value + ")");
    std::printf("      %-22s %-9s %s%s\n", k.name.c_str(), std::string(kind_word(k.kind)).c_str(), k.doc.c_str(),
                extra.c_str());
  }
}

template <class Map>
void print_types(const char* role, const Map& types) {
  for (const auto& [name, entry] : types) {
    const std::string origin = entry.origin.empty() ? "built-in" : entry.origin;
    std::printf("  %-10s %-16s %s [%s]\n", role, name.c_str(), entry.type.summary.c_str(), origin.c_str());
    print_keys(entry.type.keys);
  }
}

}  // namespace

void list_types(const TypeRegistry& registry) {
  std::printf("tables:\n");
  std::printf("  [pipeline]  the job as a whole\n");
  print_keys(pipeline_keys());
  std::printf("  [providers.NAME]  a model API, shared by every call node that names it (plus its type's keys)\n");
  print_keys(provider_keys());
  for (const auto& kind : registry.kinds()) {
    std::printf("  [%s.NAME]  %s\n", kind.table.c_str(), kind.summary.c_str());
    std::vector<KeySpec> keys = node_common_keys(kind);
    keys.insert(keys.end(), kind.keys.begin(), kind.keys.end());
    print_keys(keys);
  }
  std::printf("\ntypes:\n");
  print_types("source", registry.sources());
  print_types("transform", registry.transforms());
  print_types("sink", registry.sinks());
  print_types("provider", registry.providers());
  if (!registry.plugins().empty()) {
    std::printf("\nplugins loaded:\n");
    for (const auto& path : registry.plugins()) std::printf("  %s\n", path.c_str());
  }
}

}  // namespace flowbatch

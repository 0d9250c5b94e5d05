#pragma once
#include <string>

namespace flowbatch {

class TypeRegistry;

/// `flowbatch plugins [graph.toml]`: every node kind and type with its role, origin and keys.
int list_types(TypeRegistry& registry, const std::string& graph_file);

}  // namespace flowbatch

#pragma once

namespace flowbatch {

class TypeRegistry;

/// Prints every node kind and type in the registry with its role, origin (built-in or the
/// plugin's path) and keys, then the plugins loaded (`flowbatch plugins [graph.toml]`).
void list_types(const TypeRegistry& registry);

}  // namespace flowbatch

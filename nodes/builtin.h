#pragma once

namespace flowbatch {

class TypeRegistry;

/// Registers every built-in node kind and type: the one list to touch when adding one.
void register_builtin(TypeRegistry& registry);

}  // namespace flowbatch

#pragma once

namespace flowbatch {

class TypeRegistry;

/// The flowbatch command line: run, validate, graph, plugins. `registry` holds the built-in types;
/// returns the process exit code (see engine/runtime/exit_codes.h).
int run_cli(int argc, char** argv, TypeRegistry& registry);

}  // namespace flowbatch

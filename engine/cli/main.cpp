// The flowbatch program: the engine's command line with every built-in node kind and type.
#include <cstdio>
#include <exception>

#include "engine/cli/cli.h"
#include "engine/graph/type_registry.h"
#include "nodes/builtin.h"

int main(int argc, char** argv) {
  try {
    flowbatch::TypeRegistry registry;
    flowbatch::register_builtin(registry);
    return flowbatch::run_cli(argc, argv, registry);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flowbatch: error: %s\n", e.what());
    return 1;
  }
}

#pragma once
// `flowbatch ctl graph.toml pause|resume|drain|status|metrics|set KEY=VALUE...`: steers the running
// job of a graph through its endpoint (pipeline.listen; docs/watching.md).
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace flowbatch {

class TypeRegistry;

struct CtlCommand {
  std::string graph;
  std::vector<std::string> overrides;
  std::string action;
  std::vector<std::string> settings;  ///< set: providers.NAME.KEY=VALUE
};

CLI::App* add_ctl_command(CLI::App& app, CtlCommand& command);
int run_ctl_command(TypeRegistry& registry, const CtlCommand& command);

}  // namespace flowbatch

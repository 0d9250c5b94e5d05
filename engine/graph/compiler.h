#pragma once
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/config/config_value.h"
#include "engine/core/diagnostics.h"
#include "engine/core/redactor.h"
#include "engine/graph/plan.h"
#include "engine/graph/type_registry.h"

namespace flowbatch {

struct CompileOptions {
  std::vector<std::string> overrides;  ///< --set key.path=value, applied in order
  bool check_environment = true;       ///< check input files and environment variables
  std::filesystem::path replay_from;   ///< flowbatch replay: sources read this dead-letter file instead
  /// Load the graph's plugins (run their code). `validate` and `graph` do not unless asked: a
  /// graph from elsewhere should be checkable without running what it names.
  bool load_plugins = true;
  /// Non-empty: what sinks and dead letters write goes into this folder instead (flowbatch estimate).
  std::filesystem::path outputs_under = {};
};

struct CompileResult {
  std::optional<Plan> plan;  ///< set when there are no errors
  Diagnostics diagnostics;   ///< every error and warning of the pass
};

/// Reads, checks and compiles a graph file. Every problem is reported in one pass.
CompileResult compile_file(const std::filesystem::path& graph_file, TypeRegistry& registry, Redactor& redactor,
                           const CompileOptions& options = {});

/// Same, from an already loaded tree (tests, and `compile_file` itself).
CompileResult compile_tree(ConfigValue root, const std::filesystem::path& graph_file, TypeRegistry& registry,
                           Redactor& redactor, const CompileOptions& options, Diagnostics diagnostics = {});

}  // namespace flowbatch

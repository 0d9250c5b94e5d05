#pragma once
#include "engine/core/text.h"
// `flowbatch cache stats [graph.toml]` and `flowbatch cache prune --older-than 30d [graph.toml]`.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace flowbatch {

class TypeRegistry;

struct CacheCommand {
  CLI::App* stats = nullptr;
  CLI::App* prune = nullptr;
  std::string graph;       ///< whose pipeline.cache; none: .flowbatch/cache.db here
  std::string older_than;  ///< prune: "30d", "12h", "90m", "3600s"
};

/// Adds the `cache` command and its two sub-commands to `app`.
CLI::App* add_cache_command(CLI::App& app, CacheCommand& command);
/// Runs whichever sub-command was parsed; returns the exit code.
int run_cache_command(TypeRegistry& registry, const CacheCommand& command);

}  // namespace flowbatch

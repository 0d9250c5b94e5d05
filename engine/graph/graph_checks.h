#pragma once
#include <optional>

#include "engine/config/option_reader.h"
#include "engine/core/diagnostics.h"
#include "engine/core/redactor.h"
#include "engine/graph/plan.h"
#include "engine/graph/type_registry.h"

namespace flowbatch {

/// The files a node's options named: written when its kind is terminal (sinks and dead letters
/// write their files), read otherwise.
std::vector<FileUse> file_uses(const OptionReader& options, const NodeKind& kind);

/// Whole-graph checks that run once every node and edge is known.
struct GraphChecks {
  Plan& plan;
  TypeRegistry& registry;
  Redactor& redactor;
  bool check_environment;
  Diagnostics& diagnostics;
  std::filesystem::path outputs_under;  ///< CompileOptions::outputs_under

  void check_sources_exist();
  /// Error and invalid ports connected to nothing feed the default dead letter (created when the
  /// graph has none), so no item is ever dropped silently; item ports connected to nothing warn.
  void route_unconnected_ports(const std::optional<Location>& dead_letter_key);
  /// Every cycle must pass through a node that breaks cycles (a retry).
  void check_cycles();
  /// No two nodes write one file, and nothing writes a file the graph reads (an input, the graph
  /// itself, the file being replayed) or the run's state: compared as resolved paths and inodes.
  void check_file_conflicts(const std::filesystem::path& replay_from);
  /// No output, dead letter or state is a symbolic link: writing through one truncates whatever
  /// it points at (another user's file, the graph's own inputs elsewhere).
  void check_no_linked_outputs();
  /// Warns when a template names a field that the first records of the sources feeding it lack
  /// (and no node on the way adds): such items would fail as invalid_input. Reads the inputs, so
  /// only when environment checks are on.
  void check_template_fields();

 private:
  std::optional<std::size_t> default_dead_letter(const std::optional<Location>& dead_letter_key);
};

}  // namespace flowbatch

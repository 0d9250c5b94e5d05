#pragma once
#include <optional>

#include "engine/core/diagnostics.h"
#include "engine/core/redactor.h"
#include "engine/graph/plan.h"
#include "engine/graph/type_registry.h"

namespace flowbatch {

/// Whole-graph checks that run once every node and edge is known.
struct GraphChecks {
  Plan& plan;
  TypeRegistry& registry;
  Redactor& redactor;
  bool check_environment;
  Diagnostics& diagnostics;

  void check_sources_exist();
  /// Error and invalid ports connected to nothing feed the default dead letter (created when the
  /// graph has none), so no item is ever dropped silently; item ports connected to nothing warn.
  void route_unconnected_ports(const std::optional<Location>& dead_letter_key);
  /// Every cycle must pass through a node that breaks cycles (a retry).
  void check_cycles();

 private:
  std::optional<std::size_t> default_dead_letter(const std::optional<Location>& dead_letter_key);
};

}  // namespace flowbatch

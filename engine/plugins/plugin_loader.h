#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "engine/core/diagnostics.h"
#include "engine/graph/plan.h"
#include "engine/graph/type_registry.h"

namespace flowbatch {

/// The folders a bare plugin name (`plugins = ["redact_pii"]`) is looked up in, in order: each
/// folder of FLOWBATCH_PLUGIN_PATH (colon-separated), then `plugins/` beside the flowbatch
/// program (the build tree), then `../lib/flowbatch/plugins` from it (an installed flowbatch; the libdir is the
/// install's).
std::vector<std::filesystem::path> plugin_search_path();

/// Loads every plugin of `[pipeline] plugins` into the registry: dlopen, then the API version
/// and build checks, then the plugin's registration (its types are attributed to its path).
/// Every problem is reported at the entry's file:line:column and loading goes on with the next
/// entry. A library already loaded into this registry is not loaded again. Libraries are never
/// unloaded: the registered types' code lives in them for the rest of the process.
void load_plugins(const std::vector<PluginRef>& plugins, TypeRegistry& registry, Diagnostics& diagnostics);

}  // namespace flowbatch

#pragma once
// A call's `mode` ("online", "batch", "auto") and batch_* keys: read once into BatchSettings, which
// the engine's batch jobs (engine/runtime/batch_jobs.h) follow.
#include <vector>

#include "engine/graph/node_kind.h"
#include "engine/runtime/batch_jobs.h"

namespace flowbatch {

/// The keys, for the call kind's key list (and so the schema and docs).
std::vector<KeySpec> batch_mode_keys();

/// Reads them; `provider` is the call's provider, when found. A mode other than online needs a
/// provider with a batch API.
BatchSettings read_batch_mode(Options& o, const PlanProvider* provider);

}  // namespace flowbatch

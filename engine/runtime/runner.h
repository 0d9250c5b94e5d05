#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/console.h"
#include "engine/core/redactor.h"
#include "engine/graph/plan.h"
#include "engine/io/file_lock.h"
#include "engine/runtime/report.h"

namespace flowbatch {

struct RunOptions {
  bool handle_signals = true;   ///< Ctrl-C drains, a second Ctrl-C stops (off in tests)
  bool append_outputs = false;  ///< sinks and dead letters add to their files (a replay without a state)
  bool fresh = false;           ///< start over: archive the previous state instead of resuming
  bool cancel_batches = false;  ///< run --cancel-batches: cancel the batch jobs earlier runs left
  bool use_state = true;        ///< keep the graph's state
  bool state_locked = false;    ///< the caller holds the state's lock already (flowbatch replay)
  std::int64_t replay_id = 0;   ///< flowbatch replay: the replay the state recorded (0: a normal run)
  // flowbatch estimate:
  double sample_rate = 1;         ///< the share of each source's records that goes through
  std::uint64_t sample_seed = 0;  ///< which ones
  bool dry_calls = false;         ///< calls send nothing (--no-calls)
  bool log_item_costs = false;    ///< keep what each item cost (Metrics::item_costs)
};

/// Takes the lock on the plan's state that a run holds for its lifetime. Throws FileBusy (a
/// RunBlocked) naming the pid of the run that holds it.
std::unique_ptr<RunLock> lock_state(const Plan& plan);

/// Builds the plan's tbb::flow graph, runs it to the end (or to a stop) and reports. Throws
/// RunBlocked when it cannot start (another run holds the state, a replay is unfinished).
/// The result-relevant keys (engine/graph/fingerprints.h) the graph changed since its state was
/// written; empty without a state, or with one older than fingerprints. Results made under other
/// settings are never kept silently: a run starts over when this is not empty.
std::vector<std::string> result_settings_changed(const Plan& plan);

RunReport run_plan(const Plan& plan, Console& console, const Redactor& redactor, const RunOptions& options = {});

/// The threads that run the graph's tasks: pipeline.threads if set; else one when every provider
/// is remote (ProviderType::remote: openai, anthropic, http), whose answers set the graph's speed —
/// one thread parses and writes far more items a second than they answer, and more threads
/// mostly spin waiting for the next answer (issue 17); else one per core.
std::size_t graph_threads(const Plan& plan);

}  // namespace flowbatch

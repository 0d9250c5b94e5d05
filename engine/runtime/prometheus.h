#pragma once
// The run's counters in the Prometheus text exposition format (GET /metrics; docs/watching.md
// lists every metric).
#include <memory>
#include <string>
#include <vector>

#include "engine/runtime/run_state.h"

namespace flowbatch {

class ProviderLane;

/// Every metric of a running (or ended) run, each labelled with `pipeline`. Reads only atomics:
/// safe from any thread while the graph runs.
std::string prometheus_text(const RunState& run, const std::string& pipeline,
                            const std::vector<std::unique_ptr<ProviderLane>>& lanes);

/// `text` as a label value: backslash, double quote and newline escaped.
std::string label_value(std::string_view text);

}  // namespace flowbatch

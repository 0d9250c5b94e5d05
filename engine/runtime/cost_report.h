#pragma once
// What a run cost, for people (summary lines, the progress line) and for machines (the run
// summary JSON of docs/summary.md: `flowbatch run --summary-json PATH`, and always
// .flowbatch/<graph>.summary.json). Fields of the JSON are documented one by one and stable.
#include <boost/json/object.hpp>
#include <filesystem>
#include <string>

#include "engine/runtime/report.h"
#include "engine/runtime/run_state.h"

namespace flowbatch {

/// The version of the summary JSON's layout: bumped only when a field changes meaning or goes.
constexpr int kSummaryVersion = 1;

/// "$1.2345": 2 decimals from $100, 4 from a cent, three significant digits below ("$0.00000630").
std::string format_usd(NanoUsd amount);
/// The summary's cost lines ("" when nothing was priced or paid).
std::string cost_summary(const Metrics& metrics, const Budget& budget);
/// "  $0.1234" for the progress line, or "" when there is nothing to say.
std::string cost_progress(const Metrics& metrics, const Budget& budget);
/// The machine-readable run summary (docs/summary.md).
boost::json::object run_summary_json(const RunState& run, const std::string& job_name, RunStatus status, int exit_code);
/// Writes it whole or not at all (a temporary file renamed over `path`). Throws naming the file.
void write_summary_json(const std::filesystem::path& path, const boost::json::object& summary);

}  // namespace flowbatch

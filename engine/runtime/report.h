#pragma once
// Report: how a run ended (its one status, its exit code) and what it did (summary text, JSON).
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>

#include <memory>
#include <string>
#include <vector>

#include "engine/runtime/run_state.h"

namespace flowbatch {

/// How a run ended: decided once, then used by the summary, the state, the JSON report and the
/// exit code alike.
enum class RunStatus : std::uint8_t {
  finished,     ///< every source read, every item ended
  interrupted,  ///< Ctrl-C / SIGTERM: drained, resumable
  stopped,      ///< stopped early on purpose (quota, budget, a provider that refuses): resumable
  failed,       ///< a fatal error (a sink that cannot write)
};
std::string_view to_string(RunStatus status);

/// How the run ended; the one place that decides it (once the graph has stopped).
RunStatus run_status(const RunState& run);
/// The process exit code of a run that ended so (engine/runtime/exit_codes.h).
int exit_code(RunStatus status, bool dead_letters_hold_items);

struct RunReport {
  RunStatus status = RunStatus::finished;
  int exit_code = 0;
  std::string fatal_error;                     ///< set when the run stopped on a fatal error
  std::string resumable_reason;                ///< set when it stopped early and can be resumed (exit 75)
  std::string archived_state;                  ///< --fresh: where the previous state was moved
  std::string summary;                         ///< the end-of-run report, ready to print
  boost::json::object json;                    ///< the same, for machines (flowbatch run --report FILE)
  boost::json::object summary_json;            ///< the stable run summary (docs/summary.md; --summary-json)
  std::vector<ItemCostLog::Entry> item_costs;  ///< what each item cost, when RunOptions::log_item_costs
  std::uint64_t records_done = 0;              ///< input records that ended this run (not skipped)
  std::uint64_t succeeded = 0, dead = 0, discarded = 0, abandoned = 0;
  std::uint64_t requests = 0, retries = 0;
  std::int64_t peak_in_flight = 0;   ///< the most items alive at once (bounded by max_in_flight)
  bool response_cache_used = false;  ///< some call kept its answers in the lasting response cache
};

class ProviderLane;
/// The report of a run that has ended: status, exit code, counts, summary (with what each
/// provider's rate gate did) and JSON.
RunReport make_run_report(const RunState& run, const std::string& job_name,
                          const std::vector<std::unique_ptr<ProviderLane>>& lanes);

/// "12,345"
std::string with_commas(std::uint64_t n);
/// "1:02:03", "2:03", "45s"
std::string short_duration(std::chrono::seconds s);

/// Progress of a running job: the live status line on a terminal, periodic plain lines elsewhere.
class ProgressReporter {
 public:
  ProgressReporter(const RunState& run, Console& console, bool live, std::chrono::milliseconds plain_interval);
  /// Called often (every tick) on the loop thread; prints only when due.
  void update();
  /// The current one-line summary of progress.
  std::string line() const;

 private:
  std::string time_left(std::uint64_t done, std::uint64_t total, double rate) const;

  const RunState& run_;
  Console& console_;
  bool live_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point next_;
};

/// The end-of-run report: counts per terminal node and per error class, wall time, rate.
std::string run_summary(const RunState& run, const std::string& job_name, RunStatus status);

/// The same as JSON, for machines: {"name", "status", "seconds", "items": {...}, "nodes": [...],
/// "errors": {"attempts": {...}, "dead_lettered": {...}}, "requests": {...}, "tokens": {...}}.
boost::json::object run_report_json(const RunState& run, const std::string& job_name, RunStatus status);

}  // namespace flowbatch

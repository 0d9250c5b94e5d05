#pragma once
#include <chrono>
#include <cstdint>
#include <boost/json/object.hpp>

#include <string>

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

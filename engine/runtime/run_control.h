#pragma once
// What the owner of a running job may see and change through its endpoint (pipeline.listen):
// GET /metrics, GET /status, POST /pause, /resume, /limits, /drain (docs/watching.md).
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "engine/graph/plan.h"
#include "engine/io/control_server.h"
#include "engine/runtime/run_state.h"

namespace flowbatch {

class ProviderLane;

/// The endpoint's routes over one run. handle() runs on the endpoint's thread: it reads atomics
/// and hands every change to the rate gates (which apply it on the engine's loop), so it never
/// blocks the graph.
class RunControl {
 public:
  /// `drain` starts a drain as Ctrl-C does (called from the endpoint's thread).
  RunControl(RunState& run, const Plan& plan, const std::vector<std::unique_ptr<ProviderLane>>& lanes,
             std::function<void()> drain);

  ControlResponse handle(const ControlRequest& request);
  /// What GET /status answers: the run's progress now, and each provider's limits.
  boost::json::object status() const;

  void pause();
  void resume();

 private:
  ControlResponse change_limits(const std::string& text);

  RunState& run_;
  const Plan& plan_;
  const std::vector<std::unique_ptr<ProviderLane>>& lanes_;
  std::function<void()> drain_;
};

/// Where a run that listens records its endpoint's address ("host:port", the real port when 0
/// was asked for) for `flowbatch ctl`: beside the graph's state. Empty for a graph without a state.
std::filesystem::path listen_file(const Plan& plan);
/// Writes `address` to `file` (atomically: `flowbatch ctl` never reads half of it).
void record_listen_address(const std::filesystem::path& file, const std::string& address);

}  // namespace flowbatch

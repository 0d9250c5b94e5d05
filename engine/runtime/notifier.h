#pragma once
// [notify.NAME]: tells downstream systems which outputs are committed, and how the run ended
// (docs/watching.md). The JSON it sends is documented there.
#include <chrono>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "engine/graph/plan.h"
#include "engine/runtime/delivery.h"
#include "engine/runtime/run_state.h"

namespace flowbatch {

struct RunReport;

class Notifier {
 public:
  Notifier(const Plan& plan, const RunState& run, Delivery& delivery);

  /// On the loop thread, every tick: a commit notification to each rule whose outputs advanced
  /// since it was last told, at most every min_interval.
  void tick();
  /// Once the run has ended and its state is closed: the last commit notification (if the
  /// outputs advanced since) and the finish notification, then waits until they are delivered or
  /// given up (the loop must still run).
  void finish(const RunReport& report);

 private:
  /// {"node", "kind", "path", "position", "items"} of each output (sinks and dead letters).
  boost::json::array outputs() const;
  /// The sum of the outputs' committed positions: it grows exactly when one of them advanced.
  std::uint64_t progress() const;
  std::string commit_message() const;

  const Plan& plan_;
  const RunState& run_;
  Delivery& delivery_;
  struct RuleState {
    std::uint64_t told = 0;  ///< progress() when the rule was last told
    std::chrono::steady_clock::time_point next{};
  };
  std::vector<RuleState> rules_;  // by plan_.notify index; loop thread, then the finishing thread
};

}  // namespace flowbatch

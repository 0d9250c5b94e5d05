#pragma once
// [alerts.NAME] at run time (docs/watching.md#alerts): on the runner's tick, samples the counters
// the metrics and the report read, lets the AlertEvaluator judge them, and acts on each rule that
// fires or resolves: a log line always, the rule's webhook or command through the notifications'
// Delivery, and a pause of the run through the control API's path.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/graph/plan.h"
#include "engine/runtime/alert_rules.h"
#include "engine/runtime/delivery.h"
#include "engine/runtime/run_state.h"

namespace flowbatch {

class ProviderLane;

class Alerter {
 public:
  /// `pause` pauses the run as POST /pause does (called on the loop thread).
  Alerter(const Plan& plan, RunState& run, const std::vector<std::unique_ptr<ProviderLane>>& lanes, Delivery& delivery,
          std::function<void()> pause);

  /// On the loop thread, every tick: evaluates the rules now and then (kEvaluateEvery).
  void tick();
  /// Once the run has ended: every alert still firing resolves ("the run ended"); then waits
  /// until the messages are delivered or given up (the loop must still run).
  void finish();

 private:
  AlertSample sample() const;
  void act(const AlertEvent& event);

  const Plan& plan_;
  RunState& run_;
  const std::vector<std::unique_ptr<ProviderLane>>& lanes_;
  Delivery& delivery_;
  std::function<void()> pause_;
  AlertEvaluator evaluator_;
  std::chrono::steady_clock::time_point next_{};  // loop thread only
};

/// The JSON an alert's webhook or command gets (docs/watching.md#alerts).
boost::json::object alert_json(const AlertEvent& event, const std::string& pipeline, bool paused);

}  // namespace flowbatch

#pragma once
// The evaluation of [alerts.NAME] rules (docs/watching.md#alerts): fed samples of the run's
// counters and the time, it says when a rule fires and when it resolves — each once, with
// hysteresis: a rule fires when its value crosses the threshold and resolves only once the value
// has been back past it, by a 10% margin, for `resolve_after`. No clock, no I/O: the runner's tick
// feeds it (engine/runtime/alerter.h), and the tests feed it by hand.
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "engine/graph/alert_options.h"
#include "engine/runtime/metrics.h"

namespace flowbatch {

/// The run's counters at one moment, each counted since the run started.
struct AlertSample {
  using Clock = std::chrono::steady_clock;
  Clock::time_point at;
  std::uint64_t records_ok = 0;        ///< input records done, every item at a sink
  std::uint64_t records_failed = 0;    ///< input records done, some item dead-lettered
  std::uint64_t requests = 0;          ///< requests answered (any outcome)
  std::uint64_t rate_limited = 0;      ///< of those, rate-limited (429)
  std::int64_t cost_nano = 0;          ///< what the run's requests cost (nano-dollars)
  LatencyHistogram::Counts latency{};  ///< answered requests by latency bucket
  /// Nothing can make progress now: no item is in flight, or the run is paused.
  bool idle = false;
};

/// What one reading of a rule says: past the threshold, back by the margin, in between, or
/// nothing to say (too few samples in the window, no baseline yet).
enum class AlertVerdict : std::uint8_t { bad, clear, between, unknown };

/// A rule that fired or resolved.
struct AlertEvent {
  const AlertRule* rule = nullptr;
  bool firing = true;    ///< false: resolved
  double value = 0;      ///< in `unit`: what the rule measured
  double threshold = 0;  ///< in `unit`: what it is compared with (latency: the factor × the baseline)
  std::string unit;      ///< "share", "ms", "usd" or "seconds"
  std::string summary;   ///< one line for people
};

class AlertEvaluator {
 public:
  using Clock = AlertSample::Clock;
  /// `rules` must outlive the evaluator (they live in the Plan).
  AlertEvaluator(const std::vector<AlertRule>& rules, Clock::time_point started);

  /// Reads `now` (the counters at now.at, times never going back) against every rule: the rules
  /// that fired or resolved.
  std::vector<AlertEvent> evaluate(const AlertSample& now);
  /// The run is over: every rule still firing resolves, saying `why`.
  std::vector<AlertEvent> resolve_all(const AlertSample& now, const std::string& why);
  bool firing(std::size_t rule) const { return states_[rule].firing; }

 private:
  struct Reading {
    AlertVerdict verdict = AlertVerdict::unknown;
    double value = 0;
    double threshold = 0;
    std::string unit;
    std::string description;  ///< "success rate 82.0% over the last 5 min"
  };
  struct RuleState {
    bool firing = false;
    std::optional<Clock::time_point> clear_since;
    std::optional<double> baseline_ms;  ///< latency
    std::uint64_t records_done = 0;     ///< no_progress: at the last change
    Clock::time_point progress_at;      ///< no_progress: the last change (or idle moment)
  };

  Reading read(const AlertRule& rule, RuleState& state, const AlertSample& now) const;
  static Reading read_success_rate(const AlertRule& rule, const AlertSample& now, const AlertSample& base);
  static Reading read_rate_limited(const AlertRule& rule, const AlertSample& now, const AlertSample& base);
  static Reading read_cost(const AlertRule& rule, const AlertSample& now, const AlertSample& base);
  Reading read_latency(const AlertRule& rule, RuleState& state, const AlertSample& now, const AlertSample& base) const;
  Reading read_no_progress(const AlertRule& rule, RuleState& state, const AlertSample& now) const;
  std::optional<AlertEvent> step(const AlertRule& rule, RuleState& state, const Reading& reading,
                                 Clock::time_point now);
  /// The newest kept sample at least `window` before `now` (the run's start for a window of 0 or
  /// one longer than the run so far): what the window's counts are measured from.
  const AlertSample& window_start(std::chrono::milliseconds window, Clock::time_point now) const;
  void keep(const AlertSample& sample);

  const std::vector<AlertRule>& rules_;
  std::vector<RuleState> states_;
  AlertSample start_;                // zeros, at the run's start
  std::deque<AlertSample> history_;  // oldest first, at least spacing_ apart
  std::chrono::milliseconds longest_{0};
  std::chrono::milliseconds spacing_{0};
};

/// "5 min", "30 s", "2 h"
std::string describe_window(std::chrono::milliseconds window);
/// A threshold in its unit ("95.0%", "120 ms", "$2.5000", "60 s").
std::string describe_threshold(double threshold, std::string_view unit);

}  // namespace flowbatch

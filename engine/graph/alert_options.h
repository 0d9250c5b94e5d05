#pragma once
// [alerts.NAME]: rules over a sliding window of the run's counters, and what to do when one fires
// (docs/watching.md#alerts). Read once into typed rules; evaluated by engine/runtime/alert_rules.h.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/graph/notify_options.h"

namespace flowbatch {

class OptionReader;

/// What a rule watches.
enum class AlertKind : std::uint8_t {
  success_rate,  ///< the share of input records done ok (not dead-lettered) falls below `threshold`
  latency,       ///< the median request latency rises above `threshold` × its median in the baseline
  rate_limited,  ///< the share of requests answered 429 (rate-limited) rises above `threshold`
  cost,          ///< the dollars spent within the window rise above `threshold`
  no_progress,   ///< no input record is done within the window while items are in flight
};
std::string_view to_string(AlertKind kind);

struct AlertRule {
  std::string name;  ///< "alerts.NAME": names it in log lines and messages
  AlertKind kind = AlertKind::success_rate;
  double threshold = 0;                            ///< see AlertKind; unused by no_progress
  std::chrono::milliseconds window{300000};        ///< the sliding window; 0: since the run started
  std::chrono::milliseconds baseline{300000};      ///< latency: the first part of the run, the normal median
  std::uint64_t min_samples = 20;                  ///< fewer records or requests in the window: no verdict
  std::chrono::milliseconds resolve_after{60000};  ///< resolved once it has been clear this long
  bool pause = false;                              ///< firing pauses the run (as POST /pause)
  std::optional<DeliveryTarget> target;            ///< a webhook or command; the log line is always written
};

/// The keys of an [alerts.NAME] table (the delivery keys among them, all optional here).
const std::vector<KeySpec>& alert_keys();
/// The values of `rule`.
const std::vector<std::string>& alert_kind_names();
AlertRule read_alert_rule(OptionReader& options, std::string name, const std::filesystem::path& workdir);

}  // namespace flowbatch

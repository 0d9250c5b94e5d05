#include "engine/graph/alert_options.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/config/option_reader.h"

namespace flowbatch {
namespace {

struct KindName {
  AlertKind kind;
  std::string_view name;
};
constexpr KindName kAlertKindNames[] = {{AlertKind::success_rate, "success_rate"},
                                        {AlertKind::latency, "latency"},
                                        {AlertKind::rate_limited, "rate_limited"},
                                        {AlertKind::cost, "cost"},
                                        {AlertKind::no_progress, "no_progress"}};

AlertKind alert_kind_named(std::string_view name) {
  for (const auto& k : kAlertKindNames)
    if (k.name == name) return k.kind;
  return AlertKind::success_rate;  // the reader refused any other value already
}

/// A duration key of at least `minimum` ms.
std::chrono::milliseconds read_ms(OptionReader& o, std::string_view key, std::int64_t minimum) {
  const std::int64_t ms = o.integer(key);
  if (ms < minimum) o.error(key, fmt::format("must be at least {}", minimum));
  return std::chrono::milliseconds(std::max(ms, minimum));
}

/// `below` (success_rate) or `above` (the others): the one the rule's kind takes, with its default.
double read_threshold(OptionReader& o, AlertKind kind) {
  const bool takes_below = kind == AlertKind::success_rate;
  if (kind == AlertKind::no_progress) {
    for (std::string_view key : {"below", "above"})
      if (o.has(key)) o.error(key, "a no_progress rule has no threshold: its window is the time without progress");
    return 0;
  }
  const std::string_view key = takes_below ? "below" : "above";
  const std::string_view other = takes_below ? "above" : "below";
  if (o.has(other)) o.error(other, fmt::format("a {} rule takes `{}`, not `{}`", to_string(kind), key, other));
  if (!o.has(key)) {
    switch (kind) {
      case AlertKind::success_rate: return 0.95;
      case AlertKind::latency: return 2.0;
      case AlertKind::rate_limited: return 0.1;
      case AlertKind::cost:
        o.error("above", "a cost rule needs `above`: the dollars that may be spent in its window");
        return 0;
      case AlertKind::no_progress: return 0;
    }
  }
  const double value = o.number(key);
  const bool share = kind == AlertKind::success_rate || kind == AlertKind::rate_limited;
  if (share && (value <= 0 || value >= 1)) o.error(key, "a share: must be above 0 and below 1 (0.95 is 95%)");
  if (kind == AlertKind::latency && value <= 1) o.error(key, "a factor of the baseline's median: must be above 1");
  if (kind == AlertKind::cost && value <= 0) o.error(key, "dollars: must be above 0");
  return value;
}

}  // namespace

std::string_view to_string(AlertKind kind) {
  for (const auto& k : kAlertKindNames)
    if (k.kind == kind) return k.name;
  return "unknown";
}

const std::vector<std::string>& alert_kind_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& k : kAlertKindNames) n.emplace_back(k.name);
    return n;
  }();
  return names;
}

const std::vector<KeySpec>& alert_keys() {
  static const std::vector<KeySpec> keys = [] {
    std::vector<KeySpec> k = {
        {"rule", KeyKind::string, true, "",
         "what to watch: success_rate, latency (median against the baseline), rate_limited (share of 429s), cost "
         "(dollars in the window), no_progress",
         alert_kind_names()},
        {"below", KeyKind::number, false, "0.95",
         "success_rate: fire when the share of records done ok falls below this"},
        {"above", KeyKind::number, false, "",
         "latency: the factor over the baseline's median (2); rate_limited: the share of 429s (0.1); cost: USD"},
        {"window_ms", KeyKind::integer, false, "300000",
         "the sliding window the rule looks at (no_progress: the time without a record done); 0: since the start"},
        {"baseline_ms", KeyKind::integer, false, "300000",
         "latency: the first part of the run, whose median is normal"},
        {"min_samples", KeyKind::integer, false, "20",
         "fewer records (success_rate) or requests (latency, rate_limited) in the window give no verdict"},
        {"resolve_after_ms", KeyKind::integer, false, "60000",
         "a firing alert resolves once the value has been back (by a 10% margin) this long"},
        {"pause", KeyKind::boolean, false, "false", "firing also pauses the run, as POST /pause (resume by hand)"},
    };
    for (KeySpec spec : delivery_keys()) {
      if (spec.name == "url" || spec.name == "command") spec.doc += " (optional: the log line is always written)";
      k.push_back(std::move(spec));
    }
    return k;
  }();
  return keys;
}

AlertRule read_alert_rule(OptionReader& o, std::string name, const std::filesystem::path& workdir) {
  AlertRule r;
  r.kind = alert_kind_named(o.string("rule"));
  r.threshold = read_threshold(o, r.kind);
  r.window = read_ms(o, "window_ms", 0);
  if (r.window.count() > 0 && r.window.count() < 1000)
    o.error("window_ms", "must be 0 (since the start) or at least 1000");
  if (r.kind == AlertKind::no_progress && r.window.count() == 0)
    o.error("window_ms", "a no_progress rule needs a window: the time without a record done");
  r.baseline = read_ms(o, "baseline_ms", 1000);
  if (r.kind != AlertKind::latency && o.has("baseline_ms"))
    o.error("baseline_ms", "only a latency rule has a baseline");
  const std::int64_t samples = o.integer("min_samples");
  if (samples < 1) o.error("min_samples", "must be at least 1");
  r.min_samples = static_cast<std::uint64_t>(std::max<std::int64_t>(samples, 1));
  r.resolve_after = read_ms(o, "resolve_after_ms", 0);
  r.pause = o.boolean("pause");
  r.target = read_optional_delivery_target(o, name, workdir);
  r.name = std::move(name);
  return r;
}

}  // namespace flowbatch

#include "engine/runtime/alert_rules.h"

#include <fmt/format.h>

#include <algorithm>

namespace flowbatch {
namespace {

/// How far back past the threshold a value must come before a rule may resolve: 10% of the
/// threshold (for success_rate, of the distance from it to 100%).
constexpr double kAlertResolveMargin = 0.1;
/// At most this many samples per window are kept: the window's edge is that exact.
constexpr std::int64_t kAlertSamplesPerWindow = 100;

double alert_share(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

std::string alert_percent(double value) { return fmt::format("{:.1f}%", 100 * value); }

/// The verdict of a value that is bad above `threshold` (and clear below it by the margin).
AlertVerdict alert_verdict_above(double value, double threshold) {
  if (value > threshold) return AlertVerdict::bad;
  return value <= threshold * (1 - kAlertResolveMargin) ? AlertVerdict::clear : AlertVerdict::between;
}

std::string alert_window_text(const AlertRule& rule) {
  return rule.window.count() == 0 ? "since the start" : "over the last " + describe_window(rule.window);
}

}  // namespace

std::string describe_window(std::chrono::milliseconds window) {
  const double s = static_cast<double>(window.count()) / 1000.0;
  if (s < 120) return fmt::format("{:g} s", s);
  if (s < 7200) return fmt::format("{:g} min", s / 60);
  return fmt::format("{:g} h", s / 3600);
}

AlertEvaluator::AlertEvaluator(const std::vector<AlertRule>& rules, Clock::time_point started)
    : rules_(rules), states_(rules.size()) {
  start_.at = started;
  for (const AlertRule& r : rules) longest_ = std::max(longest_, r.window);
  spacing_ = std::max(std::chrono::milliseconds(1), longest_ / kAlertSamplesPerWindow);
  for (RuleState& s : states_) s.progress_at = started;
}

std::vector<AlertEvent> AlertEvaluator::evaluate(const AlertSample& now) {
  std::vector<AlertEvent> events;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const Reading reading = read(rules_[i], states_[i], now);
    if (auto e = step(rules_[i], states_[i], reading, now.at)) events.push_back(std::move(*e));
  }
  keep(now);
  return events;
}

std::vector<AlertEvent> AlertEvaluator::resolve_all(const AlertSample& now, const std::string& why) {
  std::vector<AlertEvent> events;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (!states_[i].firing) continue;
    states_[i].firing = false;
    Reading reading = read(rules_[i], states_[i], now);
    events.push_back(AlertEvent{&rules_[i], false, reading.value, reading.threshold, reading.unit,
                                fmt::format("{} resolved: {}", rules_[i].name, why)});
  }
  return events;
}

void AlertEvaluator::keep(const AlertSample& sample) {
  if (longest_.count() == 0) return;  // every window is "since the start": nothing to remember
  if (!history_.empty() && sample.at - history_.back().at < spacing_) return;
  history_.push_back(sample);
  // The oldest sample stays while the next one is still inside the longest window.
  while (history_.size() >= 2 && history_[1].at <= sample.at - longest_) history_.pop_front();
}

const AlertSample& AlertEvaluator::window_start(std::chrono::milliseconds window, Clock::time_point now) const {
  if (window.count() == 0) return start_;
  const AlertSample* base = &start_;
  for (const AlertSample& s : history_) {
    if (s.at > now - window) break;
    base = &s;
  }
  return *base;
}

AlertEvaluator::Reading AlertEvaluator::read(const AlertRule& rule, RuleState& state, const AlertSample& now) const {
  if (rule.kind == AlertKind::no_progress) return read_no_progress(rule, state, now);
  const AlertSample& base = window_start(rule.window, now.at);
  switch (rule.kind) {
    case AlertKind::success_rate: return read_success_rate(rule, now, base);
    case AlertKind::latency: return read_latency(rule, state, now, base);
    case AlertKind::rate_limited: return read_rate_limited(rule, now, base);
    case AlertKind::cost: return read_cost(rule, now, base);
    case AlertKind::no_progress: break;  // read above
  }
  return {};
}

AlertEvaluator::Reading AlertEvaluator::read_success_rate(const AlertRule& rule, const AlertSample& now,
                                                          const AlertSample& base) {
  Reading r;
  const std::uint64_t ok = now.records_ok - base.records_ok;
  const std::uint64_t done = ok + now.records_failed - base.records_failed;
  r.value = alert_share(ok, done);
  r.threshold = rule.threshold;
  r.unit = "share";
  r.description =
      fmt::format("success rate {} of {} records {}", alert_percent(r.value), done, alert_window_text(rule));
  if (done < rule.min_samples) return r;
  const double clear_at = rule.threshold + (1 - rule.threshold) * kAlertResolveMargin;
  r.verdict = r.value < rule.threshold ? AlertVerdict::bad
              : r.value >= clear_at    ? AlertVerdict::clear
                                       : AlertVerdict::between;
  return r;
}

AlertEvaluator::Reading AlertEvaluator::read_rate_limited(const AlertRule& rule, const AlertSample& now,
                                                          const AlertSample& base) {
  Reading r;
  const std::uint64_t requests = now.requests - base.requests;
  r.value = alert_share(now.rate_limited - base.rate_limited, requests);
  r.threshold = rule.threshold;
  r.unit = "share";
  r.description =
      fmt::format("{} of {} requests rate-limited {}", alert_percent(r.value), requests, alert_window_text(rule));
  if (requests >= rule.min_samples) r.verdict = alert_verdict_above(r.value, r.threshold);
  return r;
}

AlertEvaluator::Reading AlertEvaluator::read_cost(const AlertRule& rule, const AlertSample& now,
                                                  const AlertSample& base) {
  Reading r;
  r.value = static_cast<double>(now.cost_nano - base.cost_nano) / 1e9;
  r.threshold = rule.threshold;
  r.unit = "usd";
  r.description = fmt::format("${:.4f} spent {}", r.value, alert_window_text(rule));
  r.verdict = alert_verdict_above(r.value, r.threshold);
  return r;
}

AlertEvaluator::Reading AlertEvaluator::read_latency(const AlertRule& rule, RuleState& state, const AlertSample& now,
                                                     const AlertSample& base) const {
  Reading r;
  r.unit = "ms";
  std::uint64_t answered = 0;
  for (const auto n : now.latency) answered += n;
  // The baseline: the median of the first baseline_ms (of the first min_samples requests, when
  // there were fewer by then). Only then is there anything to compare with.
  if (!state.baseline_ms && now.at - start_.at >= rule.baseline && answered >= rule.min_samples)
    state.baseline_ms = LatencyHistogram::percentile_ms(now.latency, 0.5);
  LatencyHistogram::Counts window{};
  std::uint64_t in_window = 0;
  for (std::size_t i = 0; i < window.size(); ++i) {
    window[i] = now.latency[i] - base.latency[i];
    in_window += window[i];
  }
  r.value = LatencyHistogram::percentile_ms(window, 0.5);
  r.threshold = state.baseline_ms.value_or(0) * rule.threshold;
  r.description = fmt::format("median latency {:.0f} ms of {} requests {} (baseline {:.0f} ms)", r.value, in_window,
                              alert_window_text(rule), state.baseline_ms.value_or(0));
  if (state.baseline_ms && in_window >= rule.min_samples) r.verdict = alert_verdict_above(r.value, r.threshold);
  return r;
}

AlertEvaluator::Reading AlertEvaluator::read_no_progress(const AlertRule& rule, RuleState& state,
                                                         const AlertSample& now) const {
  const std::uint64_t done = now.records_ok + now.records_failed;
  // Waiting for nothing (no item in flight: a queue with no work) or for a person (paused) is
  // not being stuck: the time without progress starts again.
  if (done != state.records_done || now.idle) {
    state.records_done = done;
    state.progress_at = now.at;
  }
  Reading r;
  r.unit = "seconds";
  r.value = std::chrono::duration<double>(now.at - state.progress_at).count();
  r.threshold = std::chrono::duration<double>(rule.window).count();
  r.description = fmt::format("no record done for {:.0f} s", r.value);
  r.verdict = r.value >= r.threshold                              ? AlertVerdict::bad
              : r.value < r.threshold * (1 - kAlertResolveMargin) ? AlertVerdict::clear
                                                                  : AlertVerdict::between;
  return r;
}

std::optional<AlertEvent> AlertEvaluator::step(const AlertRule& rule, RuleState& state, const Reading& reading,
                                               Clock::time_point now) {
  if (reading.verdict != AlertVerdict::clear) state.clear_since.reset();
  if (reading.verdict == AlertVerdict::bad && !state.firing) {
    state.firing = true;
    return AlertEvent{&rule,
                      true,
                      reading.value,
                      reading.threshold,
                      reading.unit,
                      fmt::format("{} firing: {} ({} {})", rule.name, reading.description,
                                  rule.kind == AlertKind::success_rate ? "below" : "above",
                                  describe_threshold(reading.threshold, reading.unit))};
  }
  if (reading.verdict != AlertVerdict::clear || !state.firing) return std::nullopt;
  if (!state.clear_since) state.clear_since = now;
  if (now - *state.clear_since < rule.resolve_after) return std::nullopt;
  state.firing = false;
  state.clear_since.reset();
  return AlertEvent{&rule,         false,
                    reading.value, reading.threshold,
                    reading.unit,  fmt::format("{} resolved: {}", rule.name, reading.description)};
}

std::string describe_threshold(double threshold, std::string_view unit) {
  if (unit == "share") return alert_percent(threshold);
  if (unit == "ms") return fmt::format("{:.0f} ms", threshold);
  if (unit == "usd") return fmt::format("${:.4f}", threshold);
  return fmt::format("{:.0f} s", threshold);
}

}  // namespace flowbatch

#include "engine/runtime/alerter.h"

#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdint>

#include "engine/core/text.h"
#include "engine/runtime/provider_lane.h"

namespace flowbatch {
namespace {

/// Rules are read a few times a second: their windows are seconds to hours long, and a sample
/// copies a latency histogram.
constexpr std::chrono::milliseconds kEvaluateEvery{250};

/// "alerts.slow" -> "slow"
std::string alert_short_name(const std::string& name) { return name.substr(name.find('.') + 1); }

/// A whole number as an integer (300, not Boost.JSON's 3E2 for a double), anything else as is:
/// the alert's readers are people and shell scripts as much as JSON parsers.
boost::json::value alert_number(double v) {
  constexpr double kExactInteger = 9007199254740992.0;  // 2^53: every integer below is a double exactly
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < kExactInteger) return static_cast<std::int64_t>(v);
  return v;
}

}  // namespace

boost::json::object alert_json(const AlertEvent& e, const std::string& pipeline, bool paused) {
  const AlertRule& rule = *e.rule;
  return boost::json::object{{"event", "alert"},
                             {"status", e.firing ? "firing" : "resolved"},
                             {"alert", alert_short_name(rule.name)},
                             {"rule", to_string(rule.kind)},
                             {"pipeline", pipeline},
                             {"time", utc_now_text(true)},
                             {"value", alert_number(e.value)},
                             {"threshold", alert_number(e.threshold)},
                             {"unit", e.unit},
                             {"window_seconds", alert_number(std::chrono::duration<double>(rule.window).count())},
                             {"summary", e.summary},
                             {"paused", paused}};
}

Alerter::Alerter(const Plan& plan, RunState& run, const std::vector<std::unique_ptr<ProviderLane>>& lanes,
                 Delivery& delivery, std::function<void()> pause)
    : plan_(plan),
      run_(run),
      lanes_(lanes),
      delivery_(delivery),
      pause_(std::move(pause)),
      evaluator_(plan.alerts, run.started) {}

AlertSample Alerter::sample() const {
  const Metrics& m = run_.metrics;
  AlertSample s;
  s.at = std::chrono::steady_clock::now();
  s.records_ok = m.records_ok.load();
  s.records_failed = m.records_failed.load();
  s.requests = m.requests.load();
  // Per request, not per item: a packed request that is refused counts once.
  for (const auto& lane : lanes_)
    s.rate_limited += lane->stats().errors[static_cast<std::size_t>(ErrorClass::rate_limit)].load();
  s.cost_nano = m.cost_nano.load();
  s.latency = m.request_latency.counts();
  s.idle = run_.outstanding() == 0 || run_.paused();
  return s;
}

void Alerter::tick() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_ || run_.draining()) return;  // a drain abandons items on purpose: nothing to judge
  next_ = now + kEvaluateEvery;
  for (const AlertEvent& e : evaluator_.evaluate(sample())) act(e);
}

void Alerter::finish() {
  for (const AlertEvent& e : evaluator_.resolve_all(sample(), "the run ended")) act(e);
  delivery_.wait_idle();
}

void Alerter::act(const AlertEvent& e) {
  const AlertRule& rule = *e.rule;
  const bool pausing = e.firing && rule.pause && !run_.paused() && !run_.draining();
  std::string line = e.summary;
  if (pausing) line += "; pausing the run (flowbatch ctl ... resume goes on)";
  const boost::json::object json = alert_json(e, plan_.pipeline.name, pausing || run_.paused());
  run_.console.log(e.firing ? LogLevel::warn : LogLevel::info, "alert:" + alert_short_name(rule.name), line, json);
  if (rule.target) delivery_.send(*rule.target, run_.redactor.redact(boost::json::serialize(json)));
  if (pausing) pause_();
}

}  // namespace flowbatch

#include "engine/runtime/notifier.h"

#include <boost/json/serialize.hpp>

#include "engine/core/text.h"
#include "engine/runtime/report.h"

namespace flowbatch {

Notifier::Notifier(const Plan& plan, const RunState& run, Delivery& delivery)
    : plan_(plan), run_(run), delivery_(delivery), rules_(plan.notify.size()) {}

boost::json::array Notifier::outputs() const {
  boost::json::array out;
  for (const NodeStats& s : run_.metrics.nodes()) {
    if (s.destination.empty()) continue;
    out.push_back(boost::json::object{{"node", s.name},
                                      {"kind", s.kind},
                                      {"path", s.destination},
                                      {"position", s.committed_position.load(std::memory_order_acquire)},
                                      {"items", s.committed_items.load(std::memory_order_relaxed)}});
  }
  return out;
}

std::uint64_t Notifier::progress() const {
  std::uint64_t sum = 0;
  for (const NodeStats& s : run_.metrics.nodes()) sum += s.committed_position.load(std::memory_order_acquire);
  return sum;
}

std::string Notifier::commit_message() const {
  return boost::json::serialize(boost::json::object{
      {"event", "commit"}, {"pipeline", plan_.pipeline.name}, {"time", utc_now_text(true)}, {"outputs", outputs()}});
}

void Notifier::tick() {
  const auto now = std::chrono::steady_clock::now();
  const std::uint64_t current = progress();
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const NotifyRule& rule = plan_.notify[i];
    RuleState& state = rules_[i];
    if (!rule.on_commit || current == state.told || now < state.next) continue;
    state.told = current;
    state.next = now + rule.min_interval;
    delivery_.send(rule.target, commit_message(), /*replaceable=*/true);
  }
}

void Notifier::finish(const RunReport& report) {
  const std::uint64_t current = progress();
  const std::string finish_message = boost::json::serialize(boost::json::object{{"event", "finish"},
                                                                                {"pipeline", plan_.pipeline.name},
                                                                                {"time", utc_now_text(true)},
                                                                                {"status", to_string(report.status)},
                                                                                {"exit_code", report.exit_code},
                                                                                {"outputs", outputs()},
                                                                                {"summary", report.summary_json}});
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const NotifyRule& rule = plan_.notify[i];
    if (rule.on_commit && current != rules_[i].told) {  // the last commits are told whatever the interval
      rules_[i].told = current;
      delivery_.send(rule.target, commit_message(), /*replaceable=*/true);
    }
  }
  delivery_.wait_idle();  // a receiver hears the last commit before the end, not after
  for (const NotifyRule& rule : plan_.notify)
    if (rule.on_finish) delivery_.send(rule.target, finish_message);
  delivery_.wait_idle();
}

}  // namespace flowbatch

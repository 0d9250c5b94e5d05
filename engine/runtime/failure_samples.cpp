#include "engine/runtime/failure_samples.h"

#include <algorithm>

namespace flowbatch {
namespace {

void count_message(FailureSamples::Message& m, std::string_view id, bool dead) {
  (dead ? m.dead : m.attempts) += 1;
  if (m.example_ids.size() < FailureSamples::kExampleIds &&
      std::find(m.example_ids.begin(), m.example_ids.end(), id) == m.example_ids.end())
    m.example_ids.emplace_back(id);
}

bool faster_request(const SlowestRequests::Entry& a, const SlowestRequests::Entry& b) {
  return a.latency_ms < b.latency_ms;
}

}  // namespace

void FailureSamples::note(ErrorClass c, std::string_view message, std::string_view id, bool dead) {
  std::lock_guard lock(mutex_);
  ClassSamples& samples = classes_[static_cast<std::size_t>(c)];
  for (Message& m : samples.messages) {
    if (m.text == message) return count_message(m, id, dead);
  }
  if (samples.messages.size() >= kMessagesPerClass) return count_message(samples.other, id, dead);
  samples.messages.push_back(Message{std::string(message), 0, 0, {}});
  count_message(samples.messages.back(), id, dead);
}

std::vector<FailureSamples::Message> FailureSamples::top(ErrorClass c, std::size_t n, Message& rest) const {
  std::vector<Message> all;
  {
    std::lock_guard lock(mutex_);
    const ClassSamples& samples = classes_[static_cast<std::size_t>(c)];
    all = samples.messages;
    rest = samples.other;
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const Message& a, const Message& b) { return a.attempts + a.dead > b.attempts + b.dead; });
  for (std::size_t i = n; i < all.size(); ++i) {
    rest.attempts += all[i].attempts;
    rest.dead += all[i].dead;
  }
  if (all.size() > n) all.resize(n);
  return all;
}

void SlowestRequests::offer(std::chrono::nanoseconds latency, std::string_view node, std::string_view first_id,
                            std::size_t items, std::uint32_t attempt) {
  if (latency.count() <= floor_ns_.load(std::memory_order_relaxed)) return;  // the common case: no lock
  std::lock_guard lock(mutex_);
  const double ms = std::chrono::duration<double, std::milli>(latency).count();
  Entry entry{ms, std::string(node), std::string(first_id), items, attempt};
  if (kept_.size() < kKept) {
    kept_.push_back(std::move(entry));
  } else {
    auto fastest = std::min_element(kept_.begin(), kept_.end(), faster_request);
    if (fastest->latency_ms >= ms) return;
    *fastest = std::move(entry);
  }
  if (kept_.size() == kKept) {
    const auto fastest = std::min_element(kept_.begin(), kept_.end(), faster_request);
    floor_ns_.store(static_cast<std::int64_t>(fastest->latency_ms * 1e6), std::memory_order_relaxed);
  }
}

std::vector<SlowestRequests::Entry> SlowestRequests::entries() const {
  std::vector<Entry> out;
  {
    std::lock_guard lock(mutex_);
    out = kept_;
  }
  std::sort(out.rbegin(), out.rend(), faster_request);  // slowest first
  return out;
}

}  // namespace flowbatch

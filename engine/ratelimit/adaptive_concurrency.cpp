#include "engine/ratelimit/adaptive_concurrency.h"

#include <algorithm>
#include <cmath>

namespace flowbatch {

namespace {
constexpr double kDecreaseRatio = 0.9;
constexpr double kRisingShare = 0.2;               // 20% over the base round trip means queueing
constexpr std::size_t kProbeEvery = 30;            // windows between two probes of the base
constexpr std::size_t kHorizon = kProbeEvery + 2;  // windows remembered: always one probe among them
constexpr double kMinWindowMs = 50;
}  // namespace

AdaptiveConcurrency::AdaptiveConcurrency(std::size_t initial, std::size_t max_limit, Clock::time_point now)
    : limit_(std::clamp<std::size_t>(initial, 1, std::max<std::size_t>(1, max_limit))),
      max_(std::max<std::size_t>(1, max_limit)),
      window_start_(now) {}

double AdaptiveConcurrency::base_ms() const { return *std::min_element(past_ms_.begin(), past_ms_.end()); }

void AdaptiveConcurrency::on_start(std::size_t in_flight) {
  if (in_flight >= limit_) reached_limit_ = true;
}

void AdaptiveConcurrency::on_end(std::chrono::nanoseconds rtt, bool back_pressure, Clock::time_point now) {
  if (back_pressure) pushed_back_ = true;
  else {
    rtt_sum_ms_ += std::chrono::duration<double, std::milli>(rtt).count();
    ++rtt_count_;
  }
  const double window_ms = std::max(kMinWindowMs, past_ms_.empty() ? 0.0 : base_ms());
  if (std::chrono::duration<double, std::milli>(now - window_start_).count() >= window_ms) close_window(now);
}

void AdaptiveConcurrency::close_window(Clock::time_point now) {
  const bool measured = rtt_count_ > 0;
  const double current = measured ? rtt_sum_ms_ / static_cast<double>(rtt_count_) : 0.0;
  // One slow window is noise (a new connection, a GC pause): queueing shows in two in a row.
  const bool slow_window = measured && !past_ms_.empty() && current > base_ms() * (1.0 + kRisingShare);
  const bool rising = slow_window && previous_slow_;
  previous_slow_ = slow_window;
  last_window_ms_ = current;
  last_base_ms_ = past_ms_.empty() ? 0.0 : base_ms();

  if (probing_) {  // the probe window only measures; then the limit is what it was
    probing_ = false;
    windows_since_probe_ = 0;
    limit_ = pushed_back_ ? std::max<std::size_t>(1, limit_before_probe_ * 9 / 10) : limit_before_probe_;
  } else if (pushed_back_ || rising) {
    limit_ =
        std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(static_cast<double>(limit_) * kDecreaseRatio)));
    slow_start_ = false;
  } else if (reached_limit_) {
    limit_ = std::min(max_, slow_start_ ? limit_ * 2 : limit_ + 1);
  }

  if (measured) {  // only windows with successes say anything about the server's speed
    past_ms_.push_back(current);
    if (past_ms_.size() > kHorizon) past_ms_.pop_front();
  }
  if (!slow_start_ && !probing_ && ++windows_since_probe_ >= kProbeEvery && limit_ > 1) {
    limit_before_probe_ = limit_;
    limit_ = std::max<std::size_t>(1, limit_ / 2);
    probing_ = true;
  }
  window_start_ = now;
  rtt_sum_ms_ = 0;
  rtt_count_ = 0;
  pushed_back_ = false;
  reached_limit_ = false;
}

}  // namespace flowbatch

#include "engine/ratelimit/minute_limit.h"

#include <algorithm>
#include <limits>

namespace flowbatch {

namespace {
constexpr auto kMinute = std::chrono::seconds(60);
}  // namespace

MinuteLimit::MinuteLimit(double per_minute, Clock::time_point now)
    : per_minute_(per_minute), bucket_(per_minute * kAimedShare, now), window_(per_minute * kAimedShare, kMinute) {}

MinuteLimit MinuteLimit::guessed(double per_minute, Clock::time_point now) {
  MinuteLimit limit(per_minute, now);
  limit.window_.set_limit(std::numeric_limits<double>::infinity());
  return limit;
}

MinuteLimit::Clock::time_point MinuteLimit::when_available(double amount, Clock::time_point now) {
  return std::max(bucket_.when_available(amount, now), window_.when_fits(amount, now));
}

void MinuteLimit::take(double amount, Clock::time_point now) {
  bucket_.take(amount, now);
  window_.add(amount, now);
}

void MinuteLimit::charge_excess(double charged, double used, Clock::time_point now) {
  // Nothing comes back when less was used: the server counted the estimate when it arrived.
  // More is charged from now, a little later than the server counted it.
  if (used > charged) take(used - charged, now);
}

void MinuteLimit::set_per_minute(double per_minute, Clock::time_point now) {
  set_guess(per_minute, now);
  window_.set_limit(per_minute * kAimedShare);
}

void MinuteLimit::set_guess(double per_minute, Clock::time_point now) {
  per_minute_ = per_minute;
  bucket_.set_per_minute(per_minute * kAimedShare, now);
}

}  // namespace flowbatch

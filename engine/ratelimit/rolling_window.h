#pragma once
#include <chrono>
#include <deque>

namespace flowbatch {

/// What was taken in the last `length` of time (requests, or tokens), so that a limit can be
/// held in every rolling window of that length — the way a server that allows "N per minute"
/// counts them: whatever arrived in the last 60 s, wherever that window starts.
///
/// A take larger than the whole limit is let through once the window is empty, so an oversized
/// request is slowed down, never starved.
class RollingWindow {
 public:
  using Clock = std::chrono::steady_clock;

  RollingWindow(double limit, Clock::duration length);

  double limit() const { return limit_; }
  void set_limit(double limit) { limit_ = limit; }
  /// What was taken within (now - length, now].
  double used(Clock::time_point now);
  /// When a take of `amount` would fit (now, if it fits now).
  Clock::time_point when_fits(double amount, Clock::time_point now);
  /// Records a take (it fits or not: the caller decided).
  void add(double amount, Clock::time_point now);

 private:
  struct Take {
    Clock::time_point at;
    double amount;
  };
  void forget_before(Clock::time_point now);
  bool fits(double amount) const;

  double limit_;
  Clock::duration length_;
  std::deque<Take> takes_;  // oldest first
  double sum_ = 0;
};

}  // namespace flowbatch

#pragma once
#include <chrono>
#include <optional>

namespace flowbatch {

/// A continuously refilling token bucket (requests or tokens per minute).
///
/// - It holds one second's worth of budget (`rate` per second, at least 1), and starts empty: a
///   run begins at the sustained rate, without a burst on top of it (see MinuteLimit).
/// - A take larger than the whole bucket is let through once the bucket is full, leaving it in
///   debt (a negative level) that later refills pay off: a big request is slowed, never starved.
/// - The level can be lowered afterwards to what the server says is left.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double per_minute, Clock::time_point now);

  double per_minute() const { return per_second_ * 60.0; }
  double capacity() const { return capacity_; }
  double level(Clock::time_point now);

  /// Takes `amount` if the bucket allows it now (see above); false otherwise.
  bool try_take(double amount, Clock::time_point now);
  /// Takes `amount` whatever the level (when_available() said it may go).
  void take(double amount, Clock::time_point now);
  /// When a take of `amount` would succeed (now, if it would now).
  Clock::time_point when_available(double amount, Clock::time_point now);
  /// Lowers the level to `remaining` if it is higher (the server's view wins when it is stricter).
  void cap_level(double remaining, Clock::time_point now);
  /// Changes the rate (a limit learned from the server), keeping the current level within bounds.
  void set_per_minute(double per_minute, Clock::time_point now);

 private:
  void refill(Clock::time_point now);

  double per_second_;
  double capacity_;
  double level_;
  Clock::time_point updated_;
};

}  // namespace flowbatch

#pragma once
#include <chrono>
#include <cstdint>
#include <random>

namespace flowbatch {

enum class Jitter : std::uint8_t {
  full,   ///< uniform in [0, delay]: spreads retries the most (AWS "full jitter")
  equal,  ///< uniform in [delay/2, delay]
  none,   ///< exactly delay
};

/// Exponential back-off: initial × multiplier^(attempt−1), capped at `max`, then jittered. No
/// defaults here: a retry node's come from its keys (nodes/retry.cpp), and are written only there.
struct Backoff {
  std::chrono::milliseconds initial{};
  std::chrono::milliseconds max{};
  double multiplier{};
  Jitter jitter{};

  /// The delay before retry number `attempt` (1 = after the first failure), before jitter.
  std::chrono::milliseconds ceiling(std::uint32_t attempt) const;
  /// The jittered delay, using `rng`.
  std::chrono::milliseconds delay(std::uint32_t attempt, std::mt19937_64& rng) const;
};

/// When a lost server connection (Redis, PostgreSQL) may be tried again: 100 ms after a failure,
/// doubling with each failure in a row up to 5 s, so a server that is down is not hammered.
class ReconnectPacing {
 public:
  void failed();  ///< one more failure in a row: the next attempt waits longer
  void connected() { failures_ = 0; }
  bool may_try() const { return std::chrono::steady_clock::now() >= next_attempt_; }
  void try_now() { next_attempt_ = {}; }  ///< a connection found stale at its first use: replaced at once

 private:
  std::uint32_t failures_ = 0;
  std::chrono::steady_clock::time_point next_attempt_{};
};

}  // namespace flowbatch

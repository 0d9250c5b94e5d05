#pragma once
#include <chrono>
#include <cstddef>
#include <deque>

namespace flowbatch {

/// How many requests may be in flight, found by itself (AIMD, after Vector's adaptive request
/// concurrency, with a slow start).
///
/// It watches every attempt: round-trip times of successes, and back pressure (429, 503/529,
/// time-outs). Once per observation window (the base round trip, at least 50 ms):
/// - back pressure, or two windows in a row whose mean round trip is more than 20% above the base
///   round trip (the lowest recent window mean: the server has started queueing), multiplies the
///   limit by 0.9 and ends the slow start;
/// - otherwise, if the limit was actually reached in the window, it grows: doubling while in slow
///   start, then by one.
/// Comparing with the lowest recent round trip, not a running mean, keeps the limit at the point
/// where latency starts to rise instead of following it upwards. So that the base is measured
/// near the server's unloaded speed (and can follow it when that changes for good), every 30
/// windows the limit drops to half for one window, as BBR's "probe RTT" does; the horizon of
/// remembered windows covers one such probe.
class AdaptiveConcurrency {
 public:
  using Clock = std::chrono::steady_clock;

  AdaptiveConcurrency(std::size_t initial, std::size_t max_limit, Clock::time_point now);

  std::size_t limit() const { return limit_; }
  /// The last closed window's mean round trip and the base it was compared with (for logs).
  double last_window_ms() const { return last_window_ms_; }
  double last_base_ms() const { return last_base_ms_; }
  /// A request started while `in_flight` (this one included) were out.
  void on_start(std::size_t in_flight);
  /// An attempt ended: its round trip, and whether the server pushed back.
  void on_end(std::chrono::nanoseconds rtt, bool back_pressure, Clock::time_point now);

 private:
  void close_window(Clock::time_point now);

  std::size_t limit_;
  std::size_t max_;
  bool slow_start_ = true;
  // The current window.
  Clock::time_point window_start_;
  double rtt_sum_ms_ = 0;
  std::size_t rtt_count_ = 0;
  bool pushed_back_ = false;
  bool reached_limit_ = false;
  // The past: window means, oldest first.
  std::deque<double> past_ms_;
  // Probing the base round trip.
  std::size_t windows_since_probe_ = 0;
  bool probing_ = false;
  bool previous_slow_ = false;
  double last_window_ms_ = 0;
  double last_base_ms_ = 0;
  std::size_t limit_before_probe_ = 0;
  double base_ms() const;
};

}  // namespace flowbatch

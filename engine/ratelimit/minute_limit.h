#pragma once
#include <chrono>

#include "engine/ratelimit/rolling_window.h"
#include "engine/ratelimit/token_bucket.h"

namespace flowbatch {

/// One per-minute limit (requests, or tokens), held the way servers count it: never more than the
/// limit in any rolling 60 s window, and spent evenly through the minute.
///
/// - A token bucket paces the takes. It starts empty and holds one second's worth, so a run ramps
///   up at the sustained rate from its first request: a bucket that started full would add a
///   second's worth to the first minute, and a server counting the last 60 s would refuse it.
/// - A log of the last 60 s of takes is the hard cap: after an idle spell the bucket's second of
///   budget may go at once, but the takes of any 60 s never pass the limit.
/// - Both aim 1% under the limit. Requests take a little, unequal time to reach the server, so one
///   started just after the oldest in our window has left it can arrive while that oldest one is
///   still in the server's window; 1% (0.6 s of a minute, 30 ms of a 3 s window a server may
///   quantize to) absorbs that.
/// - A take larger than the bucket goes when the bucket is full, into debt; one larger than the
///   whole limit goes when the window is empty: a big request is slowed down, never starved.
/// - A rate guessed from a server's 429s (one that never says its limits) only sets the pace: the
///   cap stays that of the known limit, if any, since nothing says the server counts by the minute.
/// - A take counts what was charged when it started, as a server counts a request when it arrives
///   (OpenAI counts a request's prompt estimate plus its max_tokens), plus whatever the answer
///   shows was used beyond that; nothing is given back when less was used. The pace can be lowered
///   afterwards to what the server says is left.
class MinuteLimit {
 public:
  using Clock = std::chrono::steady_clock;
  /// The share of a limit aimed at: headroom for the time requests take to reach the server.
  static constexpr double kAimedShare = 0.99;

  /// A known limit (configured, or announced by the server): paced at, and capped at every minute.
  MinuteLimit(double per_minute, Clock::time_point now);
  /// A guessed rate, with no known limit: paced at, never capped.
  static MinuteLimit guessed(double per_minute, Clock::time_point now);

  /// The rate it paces at: the known limit or a guess below it (not the 99% aimed at).
  double per_minute() const { return per_minute_; }
  /// When a take of `amount` may start (now, if it may now).
  Clock::time_point when_available(double amount, Clock::time_point now);
  /// Charges a take; call it when when_available() says now.
  void take(double amount, Clock::time_point now);
  /// A take charged `charged` turned out to use `used`: charges what it used beyond the charge.
  void charge_excess(double charged, double used, Clock::time_point now);
  /// Lowers the budget left to `remaining` if it is higher (the server's view wins when stricter).
  void cap_level(double remaining, Clock::time_point now) { bucket_.cap_level(remaining, now); }
  /// Changes the known limit (the server announced another one): the pace and the cap.
  void set_per_minute(double per_minute, Clock::time_point now);
  /// Changes the guessed rate (learnt from 429s): the pace only.
  void set_guess(double per_minute, Clock::time_point now);

 private:
  double per_minute_;
  TokenBucket bucket_;
  RollingWindow window_;
};

}  // namespace flowbatch

#pragma once
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "engine/core/console.h"
#include "engine/io/event_loop.h"
#include "engine/ratelimit/adaptive_concurrency.h"
#include "engine/ratelimit/minute_limit.h"
#include "engine/ratelimit/rate_gate.h"
#include "engine/ratelimit/rate_settings.h"
#include "flowbatch/provider.h"

namespace flowbatch {

/// Decides, within this process, when each request to one provider may start: the moment it starts
/// is when the requests/min and tokens/min limits are charged (each paced, and capped in every
/// rolling minute: see MinuteLimit), the (fixed or adaptive) concurrency limit is checked, and a provider-wide
/// cool-down after a 429 is respected. It also listens to the server: x-ratelimit-* style signals lower the buckets
/// before a 429 can happen, and a limit the server announces that is lower than the configured one replaces it.
///
/// A server that sends 429s but neither limits nor Retry-After (a plain rate limiter in front of an
/// API) is learnt from: a burst of such 429s sets the request rate to 80% of the rate of the last
/// few seconds, and every 10 s without a 429 the rate grows by 10% again (up to the configured
/// one, if any).
///
/// All state lives on the event loop's thread; request() and finished() may be called from any
/// thread (they post there). Requests start in arrival order.
class LocalRateGate final : public RateGate {
 public:
  LocalRateGate(const RateSettings& settings, EventLoop& loop, Logger log);

  void request(double estimated_tokens, Start start) override;
  void finished(AttemptFeedback feedback) override;
  void request_all(std::vector<Wanted> wanted) override;
  void finished_all(const std::vector<AttemptFeedback>& feedback) override;
  void cancelled() override;
  void stop() override;
  void pause() override;
  void resume() override;
  bool paused() const override { return paused_seen_.load(); }
  void change_limits(LimitChange change, std::function<void()> applied) override;

  std::size_t concurrency_limit() const override { return concurrency_limit_seen_.load(); }
  double requests_per_minute() const override { return requests_per_minute_seen_.load(); }
  double tokens_per_minute() const override { return tokens_per_minute_seen_.load(); }
  std::uint64_t pauses() const override { return pauses_.load(); }
  std::uint64_t paused_ms() const override { return paused_ms_.load(); }
  std::size_t in_flight() const override { return in_flight_seen_.load(); }
  std::size_t waiting() const override { return waiting_seen_.load(); }

 private:
  using Waiting = Wanted;

  /// On the loop thread: an attempt ended (pump() and publish() are the caller's).
  void note_finished(const AttemptFeedback& f, Clock::time_point now);
  void pump();
  void stop_now();
  Clock::time_point budget_available(double tokens, Clock::time_point now);
  void arm(Clock::time_point when);
  std::size_t limit() const { return arc_ ? arc_->limit() : settings_.concurrency_limit; }
  void learn(const AttemptFeedback& f, Clock::time_point now);
  void cool_down(const AttemptFeedback& f, Clock::time_point now);
  void slow_down_blind(Clock::time_point now);
  void recover_rate(Clock::time_point now);
  double observed_per_minute(Clock::time_point now);
  void publish();
  std::string describe_limits() const;

  RateSettings settings_;
  EventLoop& loop_;
  Logger log_;
  std::deque<Waiting> waiting_;
  std::optional<MinuteLimit> requests_;
  std::optional<MinuteLimit> tokens_;
  std::optional<AdaptiveConcurrency> arc_;
  std::size_t in_flight_ = 0;
  Clock::time_point cooldown_until_{};
  std::chrono::milliseconds next_cooldown_{1000};  // doubles on consecutive 429s without a hint
  std::optional<Clock::time_point> armed_at_;
  std::deque<Clock::time_point> recent_starts_;  // starts of the last few seconds
  std::uint64_t started_ = 0;                    // requests started so far (tickets handed out)
  bool server_announces_limits_ = false;
  bool rate_learnt_ = false;  // the request rate was lowered by 429s
  Clock::time_point last_429_{};
  Clock::time_point last_raise_{};
  Clock::time_point last_slow_down_{};
  bool stopped_ = false;
  bool paused_ = false;
  Clock::time_point next_pause_log_{};
  std::atomic<std::uint64_t> pauses_{0};
  std::atomic<std::uint64_t> paused_ms_{0};
  std::atomic<std::size_t> concurrency_limit_seen_{0};
  std::atomic<double> requests_per_minute_seen_{0};
  std::atomic<double> tokens_per_minute_seen_{0};
  std::atomic<std::size_t> in_flight_seen_{0};
  std::atomic<std::size_t> waiting_seen_{0};
  std::atomic<bool> paused_seen_{false};
};

}  // namespace flowbatch

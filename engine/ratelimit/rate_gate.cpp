#include "engine/ratelimit/rate_gate.h"

#include <algorithm>

namespace flowbatch {

namespace {
constexpr std::chrono::milliseconds kMaxCooldown{60000};
}  // namespace

RateGate::RateGate(const RateSettings& settings, EventLoop& loop, Logger log)
    : settings_(settings), loop_(loop), log_(std::move(log)) {
  const auto now = Clock::now();
  if (settings_.requests_per_minute > 0) requests_.emplace(settings_.requests_per_minute, now);
  if (settings_.tokens_per_minute > 0) tokens_.emplace(settings_.tokens_per_minute, now);
  if (settings_.adaptive) arc_.emplace(settings_.initial_concurrency, settings_.concurrency_limit, now);
  publish();
}

void RateGate::request(double estimated_tokens, Start start) {
  loop_.post(
      [this, estimated_tokens, start = std::move(start)]() mutable {
        waiting_.push_back(Waiting{estimated_tokens, std::move(start)});
        pump();
      },
      [start] { start(false); });  // the loop is cancelling everything: it will never go
}

void RateGate::finished(AttemptFeedback feedback) {
  loop_.post([this, f = std::move(feedback)] {
    const auto now = Clock::now();
    if (in_flight_ > 0) --in_flight_;
    // The estimate was charged at start; settle up with what the server counted.
    if (tokens_ && f.used_tokens >= 0) tokens_->adjust(f.estimated_tokens - f.used_tokens, now);
    learn(f, now);
    if (f.rate_limited) cool_down(f, now);
    else if (!f.back_pressure) next_cooldown_ = std::chrono::milliseconds(1000);
    if (arc_) arc_->on_end(f.rtt, f.back_pressure, now);
    publish();
    pump();
  });
}

void RateGate::cancelled() {
  loop_.post([this] {
    if (in_flight_ > 0) --in_flight_;
    pump();
  });
}

void RateGate::stop() {
  loop_.post([this] {
    stopped_ = true;
    pump();
  });
}

void RateGate::pump() {
  while (!waiting_.empty()) {
    if (stopped_) {
      Waiting w = std::move(waiting_.front());
      waiting_.pop_front();
      w.start(false);
      continue;
    }
    const auto now = Clock::now();
    if (now < cooldown_until_) return arm(cooldown_until_);
    if (in_flight_ >= limit()) return;  // a finishing request pumps again
    Waiting& next = waiting_.front();
    if (requests_ && !requests_->try_take(1, now)) return arm(requests_->when_available(1, now));
    if (tokens_ && !tokens_->try_take(next.tokens, now)) {
      if (requests_) requests_->adjust(1, now);  // not started after all
      return arm(tokens_->when_available(next.tokens, now));
    }
    Waiting w = std::move(next);
    waiting_.pop_front();
    ++in_flight_;
    if (arc_) arc_->on_start(in_flight_);
    w.start(true);
  }
}

void RateGate::arm(Clock::time_point when) {
  if (armed_at_ && *armed_at_ <= when) return;  // an earlier wake-up is already set
  armed_at_ = when;
  loop_.at(when, [this] {
    armed_at_.reset();
    pump();
  });
}

/// The server's own view of its limits: adopt a lower limit than configured, and never keep
/// more budget than it says is left.
void RateGate::learn(const AttemptFeedback& f, Clock::time_point now) {
  const RateLimitSignals& s = f.signals;
  auto adopt = [&](std::optional<TokenBucket>& bucket, const std::optional<double>& limit, double configured,
                   const char* what) {
    if (!limit || *limit <= 0) return;
    const double wanted = configured > 0 ? std::min(configured, *limit) : *limit;
    if (!bucket) {
      bucket.emplace(wanted, now);
    } else if (std::abs(bucket->per_minute() - wanted) > 0.5) {
      if (wanted < bucket->per_minute())
        log_.info("the server allows {:.0f} {} per minute; using that instead of {:.0f}", wanted, what, bucket->per_minute());
      bucket->set_per_minute(wanted, now);
    }
  };
  adopt(requests_, s.limit_requests, settings_.requests_per_minute, "requests");
  adopt(tokens_, s.limit_tokens, settings_.tokens_per_minute, "tokens");
  // Requests still in flight were mostly counted by the server already (they wait in its latency),
  // so its "remaining" is compared with our level as it is.
  if (requests_ && s.remaining_requests) requests_->cap_level(*s.remaining_requests, now);
  if (tokens_ && s.remaining_tokens) tokens_->cap_level(*s.remaining_tokens, now);
}

/// A 429: the whole provider pauses, for the server's Retry-After when it gives one, else until
/// the exhausted bucket's reset, else a pause that doubles on each 429 in a row.
void RateGate::cool_down(const AttemptFeedback& f, Clock::time_point now) {
  const RateLimitSignals& s = f.signals;
  std::chrono::milliseconds pause = next_cooldown_;
  if (s.retry_after) pause = *s.retry_after;
  else if (s.remaining_requests && *s.remaining_requests <= 0 && s.reset_requests) pause = *s.reset_requests;
  else if (s.remaining_tokens && *s.remaining_tokens <= 0 && s.reset_tokens) pause = *s.reset_tokens;
  else next_cooldown_ = std::min(kMaxCooldown, next_cooldown_ * 2);
  pause = std::clamp(pause, std::chrono::milliseconds(1), kMaxCooldown);
  if (now + pause <= cooldown_until_) return;  // already paused at least that long
  cooldown_until_ = now + pause;
  ++pauses_;
  paused_ms_ += static_cast<std::uint64_t>(pause.count());
  // One line now and then, not one per 429.
  if (now >= next_pause_log_) {
    log_.info("rate limited by the server: pausing all requests for {} ms ({} pauses so far)", pause.count(), pauses_.load());
    next_pause_log_ = now + std::chrono::seconds(10);
  }
}

void RateGate::publish() {
  concurrency_limit_seen_ = limit();
  requests_per_minute_seen_ = requests_ ? requests_->per_minute() : 0.0;
}

}  // namespace flowbatch

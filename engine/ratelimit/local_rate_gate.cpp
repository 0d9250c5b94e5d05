#include "engine/ratelimit/local_rate_gate.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include <fmt/format.h>

namespace flowbatch {

namespace {
constexpr std::chrono::milliseconds kMaxCooldown{60000};
constexpr auto kObservation = std::chrono::seconds(3);  // the window the observed rate is taken over
constexpr auto kRaiseEvery = std::chrono::seconds(10);
}  // namespace

std::optional<std::chrono::milliseconds> server_pause(const RateLimitSignals& s) {
  if (s.retry_after) return *s.retry_after;
  if (s.remaining_requests && *s.remaining_requests <= 0 && s.reset_requests) return *s.reset_requests;
  if (s.remaining_tokens && *s.remaining_tokens <= 0 && s.reset_tokens) return *s.reset_tokens;
  return std::nullopt;
}

LocalRateGate::LocalRateGate(const RateSettings& settings, EventLoop& loop, Logger log)
    : settings_(settings), loop_(loop), log_(std::move(log)) {
  const auto now = Clock::now();
  if (settings_.requests_per_minute > 0) requests_.emplace(settings_.requests_per_minute, now);
  if (settings_.tokens_per_minute > 0) tokens_.emplace(settings_.tokens_per_minute, now);
  if (settings_.adaptive) arc_.emplace(settings_.initial_concurrency, settings_.concurrency_limit, now);
  publish();
}

void LocalRateGate::request(double estimated_tokens, Start start) {
  // The copy for the cancel path is made before `start` moves into the job: the order in which
  // a call's arguments are built is unspecified, and the job's capture could empty it first.
  auto never_goes = [start] { start(false, 0); };  // the loop is cancelling everything
  loop_.post(
      [this, estimated_tokens, start = std::move(start)]() mutable {
        waiting_.push_back(Waiting{estimated_tokens, std::move(start)});
        pump();
        publish();
      },
      std::move(never_goes));
}

void LocalRateGate::request_all(std::vector<Wanted> wanted) {
  // Shared by the job and its cancel path: whichever runs (never both) takes the starts.
  auto all = std::make_shared<std::vector<Wanted>>(std::move(wanted));
  loop_.post(
      [this, all] {
        for (Wanted& w : *all) waiting_.push_back(std::move(w));
        pump();
        publish();
      },
      [all] {
        for (Wanted& w : *all) w.start(false, 0);
      });
}

void LocalRateGate::finished(AttemptFeedback feedback) {
  loop_.post(
      [this, f = feedback] {
        note_finished(f, Clock::now());
        pump();
        publish();
      },
      [this] { stop_now(); });
}

void LocalRateGate::finished_all(const std::vector<AttemptFeedback>& feedback) {
  auto all = std::make_shared<const std::vector<AttemptFeedback>>(feedback);
  loop_.post(
      [this, all] {
        const auto now = Clock::now();
        for (const AttemptFeedback& f : *all) note_finished(f, now);
        pump();
        publish();
      },
      [this] { stop_now(); });
}

void LocalRateGate::note_finished(const AttemptFeedback& f, Clock::time_point now) {
  if (in_flight_ > 0) --in_flight_;
  // The estimate was charged at start; an answer that used more is charged the rest.
  if (tokens_ && f.used_tokens >= 0) tokens_->charge_excess(f.estimated_tokens, f.used_tokens, now);
  if (f.ticket < started_) learn(f, now);  // a real attempt (not a cancelled start)
  if (f.rate_limited) cool_down(f, now);
  else if (!f.back_pressure) next_cooldown_ = std::chrono::milliseconds(1000);
  recover_rate(now);
  if (arc_) arc_->on_end(f.rtt, f.back_pressure, now);
}

void LocalRateGate::cancelled() {
  loop_.post(
      [this] {
        if (in_flight_ > 0) --in_flight_;
        pump();
      },
      [this] { stop_now(); });
}

void LocalRateGate::pause() {
  paused_seen_ = true;  // at once, for whoever asks next (the status), before the loop applies it
  loop_.post([this] { paused_ = true; }, [this] { stop_now(); });
}

void LocalRateGate::resume() {
  paused_seen_ = false;
  loop_.post(
      [this] {
        paused_ = false;
        pump();
        publish();
      },
      [this] { stop_now(); });
}

void LocalRateGate::change_limits(LimitChange change, std::function<void()> applied) {
  loop_.post(
      [this, change, applied] {
        const auto now = Clock::now();
        auto apply = [now](std::optional<MinuteLimit>& held, double& configured, double wanted) {
          configured = wanted;
          if (wanted <= 0) held.reset();
          else if (held) held->set_per_minute(wanted, now);
          else held.emplace(wanted, now);
        };
        if (change.requests_per_minute) {
          apply(requests_, settings_.requests_per_minute, *change.requests_per_minute);
          rate_learnt_ = false;  // the user's word replaces a rate guessed from 429s
        }
        if (change.tokens_per_minute) apply(tokens_, settings_.tokens_per_minute, *change.tokens_per_minute);
        if (change.concurrency) {
          arc_.reset();
          settings_.adaptive = false;
          settings_.concurrency_limit = *change.concurrency;
        }
        log_.info("limits changed while running: {}", describe_limits());
        pump();
        publish();
        applied();
      },
      [this, applied] {
        stop_now();
        applied();
      });
}

std::string LocalRateGate::describe_limits() const {
  auto per_minute = [](const std::optional<MinuteLimit>& m) {
    return m ? fmt::format("{:.0f}", m->per_minute()) : std::string("none");
  };
  return fmt::format("requests_per_minute {}, tokens_per_minute {}, max_concurrency {}", per_minute(requests_),
                     per_minute(tokens_), limit());
}

void LocalRateGate::stop() {
  loop_.post([this] { stop_now(); }, [this] { stop_now(); });
}

/// Every waiting request (and every later one) is told it will never go. Also what a cancelled
/// timer or message of the gate does: the loop cancels them only when the run stops at once, and
/// a request left waiting would keep the run from ever ending.
void LocalRateGate::stop_now() {
  armed_at_.reset();
  stopped_ = true;
  pump();
}

void LocalRateGate::pump() {
  while (!waiting_.empty()) {
    if (stopped_) {
      Waiting w = std::move(waiting_.front());
      waiting_.pop_front();
      w.start(false, 0);
      continue;
    }
    if (paused_) return;  // resume() pumps again
    const auto now = Clock::now();
    if (now < cooldown_until_) return arm(cooldown_until_);
    if (in_flight_ >= limit()) return;  // a finishing request pumps again
    Waiting& next = waiting_.front();
    const Clock::time_point budget_at = budget_available(next.estimated_tokens, now);
    if (budget_at > now) return arm(budget_at);
    if (requests_) requests_->take(1, now);
    if (tokens_) tokens_->take(next.estimated_tokens, now);
    Waiting w = std::move(next);
    waiting_.pop_front();
    ++in_flight_;
    recent_starts_.push_back(now);
    if (arc_) arc_->on_start(in_flight_);
    w.start(true, started_++);
  }
}

/// When both per-minute limits allow a request of `tokens` to start.
RateGate::Clock::time_point LocalRateGate::budget_available(double tokens, Clock::time_point now) {
  Clock::time_point at = now;
  if (requests_) at = std::max(at, requests_->when_available(1, now));
  if (tokens_) at = std::max(at, tokens_->when_available(tokens, now));
  return at;
}

void LocalRateGate::arm(Clock::time_point when) {
  if (armed_at_ && *armed_at_ <= when) return;  // an earlier wake-up is already set
  armed_at_ = when;
  loop_.at(
      when,
      [this] {
        armed_at_.reset();
        pump();
      },
      [this] { stop_now(); });
}

/// The server's own view of its limits: adopt a lower limit than configured, and never keep
/// more budget than it says is left.
void LocalRateGate::learn(const AttemptFeedback& f, Clock::time_point now) {
  const RateLimitSignals& s = f.signals;
  auto adopt = [&](std::optional<MinuteLimit>& held, const std::optional<double>& announced, double configured,
                   const char* what) {
    if (!announced || *announced <= 0) return;
    const double wanted = configured > 0 ? std::min(configured, *announced) : *announced;
    if (!held) {
      held.emplace(wanted, now);
    } else if (std::abs(held->per_minute() - wanted) > 0.5) {
      if (wanted < held->per_minute())
        log_.info("the server allows {:.0f} {} per minute; using that instead of {:.0f}", wanted, what,
                  held->per_minute());
      held->set_per_minute(wanted, now);
    }
  };
  if (s.limit_requests || s.limit_tokens) server_announces_limits_ = true;
  adopt(requests_, s.limit_requests, settings_.requests_per_minute, "requests");
  adopt(tokens_, s.limit_tokens, settings_.tokens_per_minute, "tokens");
  // The server counted this request when it arrived; the ones started after it it had not seen
  // yet, so they come off its "remaining" (the ones before it are in it already).
  const double started_after = static_cast<double>(started_ - f.ticket - 1);
  if (requests_ && s.remaining_requests) requests_->cap_level(*s.remaining_requests - started_after, now);
  if (tokens_ && s.remaining_tokens) tokens_->cap_level(*s.remaining_tokens, now);
}

/// A 429: the whole provider pauses, for the server's Retry-After when it gives one, else until
/// the exhausted bucket's reset, else a pause that doubles on each 429 in a row.
void LocalRateGate::cool_down(const AttemptFeedback& f, Clock::time_point now) {
  const RateLimitSignals& s = f.signals;
  const std::optional<std::chrono::milliseconds> told = server_pause(s);
  std::chrono::milliseconds pause = told.value_or(next_cooldown_);
  if (!told) next_cooldown_ = std::min(kMaxCooldown, next_cooldown_ * 2);
  pause = std::clamp(pause, std::chrono::milliseconds(1), kMaxCooldown);
  last_429_ = now;
  // Only a server that says nothing — no limits, no Retry-After — leaves the rate to be guessed.
  if (!server_announces_limits_ && !s.retry_after) slow_down_blind(now);
  if (now + pause <= cooldown_until_) return;  // already paused at least that long
  cooldown_until_ = now + pause;
  ++pauses_;
  paused_ms_ += static_cast<std::uint64_t>(pause.count());
  // One line now and then, not one per 429.
  if (now >= next_pause_log_) {
    log_.info("rate limited by the server: pausing all requests for {} ms ({} pauses so far)", pause.count(),
              pauses_.load());
    next_pause_log_ = now + std::chrono::seconds(10);
  }
}

double LocalRateGate::observed_per_minute(Clock::time_point now) {
  while (!recent_starts_.empty() && now - recent_starts_.front() > kObservation) recent_starts_.pop_front();
  return static_cast<double>(recent_starts_.size()) * 60.0 / std::chrono::duration<double>(kObservation).count();
}

/// A 429 from a server that never says its limits: the rate we were going at was too much.
void LocalRateGate::slow_down_blind(Clock::time_point now) {
  if (rate_learnt_ && now - last_slow_down_ < std::chrono::seconds(1)) return;  // one cut per burst of 429s
  last_slow_down_ = now;
  const double observed = observed_per_minute(now);
  const double current = requests_ ? requests_->per_minute() : observed;
  const double wanted = std::max(6.0, 0.8 * std::min(current, observed > 0 ? observed : current));
  if (wanted <= 0) return;
  if (!requests_) requests_ = MinuteLimit::guessed(wanted, now);
  else requests_->set_guess(wanted, now);
  rate_learnt_ = true;
  last_raise_ = now;
}

/// After a quiet spell, give a learnt rate back a little at a time.
void LocalRateGate::recover_rate(Clock::time_point now) {
  if (!rate_learnt_ || !requests_ || now - last_429_ < kRaiseEvery || now - last_raise_ < kRaiseEvery) return;
  double raised = requests_->per_minute() * 1.1;
  if (settings_.requests_per_minute > 0 && raised >= settings_.requests_per_minute) {
    raised = settings_.requests_per_minute;
    rate_learnt_ = false;
  }
  requests_->set_guess(raised, now);
  last_raise_ = now;
}

void LocalRateGate::publish() {
  if (arc_ && limit() != concurrency_limit_seen_.load())
    log_.debug("adaptive concurrency: {} -> {} ({} in flight; round trip {:.1f} ms against a base of {:.1f} ms)",
               concurrency_limit_seen_.load(), limit(), in_flight_, arc_->last_window_ms(), arc_->last_base_ms());
  concurrency_limit_seen_ = limit();
  requests_per_minute_seen_ = requests_ ? requests_->per_minute() : 0.0;
  tokens_per_minute_seen_ = tokens_ ? tokens_->per_minute() : 0.0;
  in_flight_seen_ = in_flight_;
  waiting_seen_ = waiting_.size();
}

}  // namespace flowbatch

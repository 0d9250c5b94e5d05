#include "engine/ratelimit/shared_quota.h"

#include "engine/ratelimit/minute_limit.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace flowbatch {

namespace {
constexpr double kAllowanceSeconds = 0.25;  // a step asks for this long's worth of requests
constexpr auto kSlotsPoll = std::chrono::milliseconds(50);
constexpr auto kMaxFailureWait = std::chrono::milliseconds(5000);
constexpr auto kDefaultPause = std::chrono::milliseconds(1000);

std::chrono::microseconds microseconds_of(double us) {
  return std::chrono::microseconds(static_cast<std::int64_t>(us));
}

std::string holder_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::random_device random;
  return fmt::format("{}:{}:{:08x}", host, ::getpid(), random());
}

double interval_us(double per_minute) { return per_minute > 0 ? 60e6 / (per_minute * MinuteLimit::kAimedShare) : 0; }
}  // namespace

// --- PermitStream ----------------------------------------------------------------------------

double PermitStream::left() const {
  double sum = 0;
  for (const Run& r : runs_) sum += r.left;
  return sum;
}

PermitStream::Clock::time_point PermitStream::next_at() const {
  return runs_.empty() ? Clock::time_point::max() : runs_.front().start;
}

void PermitStream::add(Clock::time_point start, double interval_us, double amount) {
  if (amount > 0) runs_.push_back(Run{start, interval_us, amount});
}

void PermitStream::spend(double amount) {
  while (amount > 1e-9 && !runs_.empty()) {
    Run& r = runs_.front();
    const double taken = std::min(amount, r.left);
    r.left -= taken;
    r.start += microseconds_of(taken * r.interval_us);
    amount -= taken;
    if (r.left <= 1e-9) runs_.pop_front();
  }
}

void PermitStream::drop_before(Clock::time_point when) {
  while (!runs_.empty() && runs_.front().start < when) {
    Run& r = runs_.front();
    const double due = std::ceil(std::chrono::duration<double, std::micro>(when - r.start).count() / r.interval_us);
    spend(std::min(due, r.left));
  }
}

// --- SharedQuota -----------------------------------------------------------------------------

SharedQuota::SharedQuota(std::unique_ptr<QuotaStore> store, Limits limits, std::chrono::milliseconds lease,
                         EventLoop& loop, Logger log, GiveUp give_up)
    : store_(std::move(store)),
      limits_(limits),
      lease_(lease),
      loop_(loop),
      log_(std::move(log)),
      give_up_(std::move(give_up)),
      holder_(holder_name()) {
  publish();
}

void SharedQuota::acquire(double tokens, Ready ready) {
  waiting_.push_back(Waiting{tokens, std::move(ready)});
  pump();
}

void SharedQuota::finished(const AttemptFeedback& f) {
  --busy_slots_;
  ++spare_slots_;
  if (limits_.tokens_per_minute > 0 && f.used_tokens > f.estimated_tokens)
    extra_tokens_ += f.used_tokens - f.estimated_tokens;
  const RateLimitSignals& s = f.signals;
  // A lower limit the server announces is the account's: every worker sees it and slows down.
  if (s.limit_requests && *s.limit_requests > 0) announced_requests_ = *s.limit_requests;
  if (s.limit_tokens && *s.limit_tokens > 0) announced_tokens_ = *s.limit_tokens;
  if (f.rate_limited) {
    const auto pause = server_pause(s).value_or(kDefaultPause);
    pause_to_share_ = std::max<std::int64_t>(pause_to_share_, std::chrono::microseconds(pause).count());
    pause_until(Clock::now() + pause);
  }
  pump();
}

void SharedQuota::cancelled() {
  --busy_slots_;
  ++spare_slots_;
  pump();
}

void SharedQuota::set_limits(const RateGate::LimitChange& change) {
  if (change.requests_per_minute) limits_.requests_per_minute = *change.requests_per_minute;
  if (change.tokens_per_minute) limits_.tokens_per_minute = *change.tokens_per_minute;
  if (change.concurrency) limits_.concurrency = *change.concurrency;
  pump();
}

void SharedQuota::stop() {
  stopped_ = true;
  pump();
}

double SharedQuota::request_interval_us() const {
  const double configured = limits_.requests_per_minute;
  if (configured <= 0) return 0;
  return interval_us(announced_requests_ ? std::min(configured, *announced_requests_) : configured);
}

/// How late a slot may still be used: one request interval (a loop pass late is not a burst),
/// within bounds.
std::chrono::microseconds SharedQuota::lateness() const {
  const double interval = request_interval_us();
  return microseconds_of(std::clamp(interval > 0 ? interval : 20'000.0, 5'000.0, 100'000.0));
}

double SharedQuota::token_interval_us() const {
  const double configured = limits_.tokens_per_minute;
  if (configured <= 0) return 0;
  return interval_us(announced_tokens_ ? std::min(configured, *announced_tokens_) : configured);
}

void SharedQuota::pump() {
  while (!waiting_.empty()) {
    if (stopped_) {
      Waiting w = std::move(waiting_.front());
      waiting_.pop_front();
      w.ready(false);
      continue;
    }
    if (!may_start(waiting_.front(), Clock::now())) break;
    Waiting w = std::move(waiting_.front());
    waiting_.pop_front();
    if (request_interval_us() > 0) requests_.spend(1);
    if (token_interval_us() > 0) tokens_.spend(w.tokens);
    --spare_slots_;  // below 0 without a shared concurrency limit: finished() brings it back to 0
    ++busy_slots_;
    w.ready(true);
  }
  // Slots nothing waits for go back: another process may be waiting for them.
  if ((waiting_.empty() && limits_.concurrency > 0) || stopped_) {
    to_return_ += std::max<std::int64_t>(0, spare_slots_);
    spare_slots_ = 0;
  }
  replenish();
  publish();
}

/// Whether the next request has all it needs now; if it will at a known moment, a wake-up is armed.
bool SharedQuota::may_start(const Waiting& next, Clock::time_point now) {
  if (now < paused_until_) {
    arm(paused_until_);
    return false;
  }
  // A slot not used in its time is lost, as in GCRA: kept, the late ones would all go at once,
  // on top of the slots the other processes use then, and the server would count a burst.
  const Clock::time_point too_late = now - lateness();
  requests_.drop_before(too_late);
  tokens_.drop_before(too_late);
  if (limits_.concurrency > 0 && spare_slots_ <= 0) return false;  // a step or a finished request brings one
  Clock::time_point at = now;
  if (request_interval_us() > 0) {
    if (requests_.left() < 1 - 1e-9) return false;  // a step brings more
    at = std::max(at, requests_.next_at());
  }
  if (token_interval_us() > 0) {
    if (tokens_.left() + 1e-9 < next.tokens) return false;
    at = std::max(at, tokens_.next_at());
  }
  if (at <= now) return true;
  arm(at);
  return false;
}

/// Takes one step on the store when something is wanted or owed and none is under way.
void SharedQuota::replenish() {
  if (asking_) return;
  const Clock::time_point now = Clock::now();
  if (now < retry_at_) return arm(retry_at_);
  QuotaAsk ask = next_ask(now);
  const bool wants = ask.requests > 0 || ask.tokens > 0 || ask.slots > 0;
  const bool owes = ask.returned_slots > 0 || ask.extra_tokens > 0 || ask.pause_us > 0;
  if (wants || owes) take_step(ask);
}

void SharedQuota::take_step(const QuotaAsk& ask) {
  asking_ = true;
  last_step_ = Clock::now();
  store_->take(ask, [this, ask](const QuotaGrant* grant, const std::string& error) {
    asking_ = false;
    if (grant) granted(ask, *grant);
    else failed(error);
    pump();
  });
}

/// What the requests waiting need beyond what is held, a block at most; and what is owed.
QuotaAsk SharedQuota::next_ask(Clock::time_point now) {
  QuotaAsk ask;
  ask.holder = holder_;
  ask.request_interval_us = request_interval_us();
  ask.token_interval_us = token_interval_us();
  ask.concurrency = static_cast<std::int64_t>(limits_.concurrency);
  ask.lease_us = std::chrono::microseconds(lease_).count();
  ask.returned_slots = to_return_;
  ask.extra_tokens = extra_tokens_;
  ask.pause_us = pause_to_share_;
  if (stopped_ || now < paused_until_) return ask;
  const double per_second = ask.request_interval_us > 0 ? 1e6 / ask.request_interval_us : 0;
  const std::size_t block = ask.request_interval_us > 0
                                ? static_cast<std::size_t>(std::max(1.0, std::ceil(per_second * kAllowanceSeconds)))
                                : waiting_.size();
  // Rate slots only for requests that hold a concurrency slot: a reserved slot of the timeline
  // that cannot be used in its time is lost to every process.
  std::size_t wanted = std::min(waiting_.size(), block);
  if (ask.concurrency > 0) wanted = std::min(wanted, static_cast<std::size_t>(std::max<std::int64_t>(0, spare_slots_)));
  if (ask.request_interval_us > 0)
    ask.requests = std::max<std::int64_t>(
        0, static_cast<std::int64_t>(wanted) - static_cast<std::int64_t>(std::floor(requests_.left() + 1e-9)));
  if (ask.token_interval_us > 0) {
    double demand = 0;
    for (std::size_t i = 0; i < wanted; ++i) demand += waiting_[i].tokens;
    ask.tokens = std::max(0.0, std::ceil(demand - tokens_.left()));
  }
  if (ask.concurrency > 0 && now >= slots_retry_at_)
    ask.slots = std::max<std::int64_t>(0, static_cast<std::int64_t>(waiting_.size()) - spare_slots_);
  return ask;
}

void SharedQuota::granted(const QuotaAsk& ask, const QuotaGrant& grant) {
  const Clock::time_point now = Clock::now();
  if (!reached_) log_.info("limits shared through {}", store_->describe());
  reached_ = true;
  failure_wait_ = std::chrono::milliseconds(100);
  to_return_ -= ask.returned_slots;
  extra_tokens_ -= ask.extra_tokens;
  if (pause_to_share_ == ask.pause_us) pause_to_share_ = 0;
  requests_.add(now + std::chrono::microseconds(grant.requests_in_us), ask.request_interval_us,
                static_cast<double>(ask.requests));
  tokens_.add(now + std::chrono::microseconds(grant.tokens_in_us), ask.token_interval_us, ask.tokens);
  spare_slots_ += grant.slots;
  if (grant.slots < ask.slots) {  // others hold the rest: look again shortly
    slots_retry_at_ = now + kSlotsPoll;
    arm(slots_retry_at_);
  }
  if (grant.paused_for_us > 0) pause_until(now + std::chrono::microseconds(grant.paused_for_us));
  give_back_spare(grant.fair_slots);
  heartbeat();
}

/// Slots held beyond the fair share go back at the next step (free ones now, busy ones as they
/// finish): another process waits for them.
void SharedQuota::give_back_spare(std::int64_t fair_slots) {
  if (limits_.concurrency == 0 || fair_slots <= 0) return;
  const std::int64_t back = std::min(spare_slots_ + busy_slots_ - fair_slots, spare_slots_);
  if (back <= 0) return;
  spare_slots_ -= back;
  to_return_ += back;
}

void SharedQuota::failed(const std::string& error) {
  const Clock::time_point now = Clock::now();
  if (!reached_) {
    // Nothing was ever granted: a wrong address or a server that is down. Waiting would hang
    // the run; it stops resumably instead.
    if (!stopped_)
      give_up_(
          fmt::format("the shared limit cannot be reached ({}); start it, or fix shared_limit, then run the same "
                      "command to go on",
                      error));
    stopped_ = true;
    return;
  }
  if (now >= next_failure_log_) {
    log_.warn("the shared limit failed ({}): requests wait, and it is asked again", error);
    next_failure_log_ = now + std::chrono::seconds(10);
  }
  retry_at_ = now + failure_wait_;
  failure_wait_ = std::min(kMaxFailureWait, failure_wait_ * 2);
  arm(retry_at_);
}

void SharedQuota::pause_until(Clock::time_point until) {
  if (until <= paused_until_) return;
  paused_until_ = until;
  requests_.drop_before(until);
  tokens_.drop_before(until);
  arm(until);
}

/// Holding slots, the lease is renewed before it can expire (a step of its own when no other
/// step came in a third of it).
void SharedQuota::heartbeat() {
  if (spare_slots_ + busy_slots_ <= 0 || limits_.concurrency == 0 || stopped_) return;
  const auto due = last_step_ + lease_ / 3;
  loop_.at(due, [this, due] {
    if (asking_ || last_step_ + lease_ / 3 > due || stopped_) return;  // a later step renewed it
    take_step(next_ask(Clock::now()));
  });
}

void SharedQuota::arm(Clock::time_point when) {
  if (armed_at_ && *armed_at_ <= when && *armed_at_ > Clock::now()) return;  // an earlier wake-up is set
  armed_at_ = when;
  loop_.at(
      when,
      [this] {
        armed_at_.reset();
        pump();
      },
      [this] {
        stopped_ = true;
        pump();
      });
}

void SharedQuota::publish() {
  const double rpm = request_interval_us();
  const double tpm = token_interval_us();
  requests_per_minute_seen_ = rpm > 0 ? 60e6 / rpm / MinuteLimit::kAimedShare : 0;
  tokens_per_minute_seen_ = tpm > 0 ? 60e6 / tpm / MinuteLimit::kAimedShare : 0;
  waiting_seen_ = waiting_.size();
}

}  // namespace flowbatch

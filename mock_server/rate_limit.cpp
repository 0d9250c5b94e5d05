#include "mock_server/rate_limit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>

namespace flowbatch::mock {
namespace {

std::chrono::milliseconds ceil_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(std::max(seconds, 0.0) * 1000.0)));
}

}  // namespace

TokenBucket::TokenBucket(std::int64_t per_minute, double burst_seconds, SteadyClock::time_point now)
    : Limit(per_minute),
      per_second_(static_cast<double>(per_minute) / 60.0),
      // At least one unit, or a low limit with a short burst would never let anything through.
      capacity_(std::max(per_second_ * burst_seconds, 1.0)),
      level_(capacity_),
      last_refill_(now) {}

void TokenBucket::advance(SteadyClock::time_point now) {
  if (now <= last_refill_) return;
  const double elapsed = std::chrono::duration<double>(now - last_refill_).count();
  level_ = std::min(capacity_, level_ + elapsed * per_second_);
  last_refill_ = now;
}

std::chrono::milliseconds TokenBucket::wait_until_can_take(double amount) const {
  return ceil_ms((std::min(amount, capacity_) - level_) / per_second_);
}

BucketState TokenBucket::state() const {
  return BucketState{limit_per_minute(), static_cast<std::int64_t>(std::floor(std::max(level_, 0.0))),
                     ceil_ms((capacity_ - level_) / per_second_)};
}

RollingWindow::RollingWindow(std::int64_t per_minute, double seconds)
    : Limit(per_minute),
      length_(std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds))),
      allowed_(static_cast<double>(per_minute) * seconds / 60.0) {}

void RollingWindow::advance(SteadyClock::time_point now) {
  now_ = std::max(now_, now);
  // The window is (now - length, now]: an arrival exactly `length` old is out of it.
  while (!arrivals_.empty() && arrivals_.front().at + length_ <= now_) {
    counted_ -= arrivals_.front().amount;
    arrivals_.pop_front();
  }
  if (arrivals_.empty()) counted_ = 0;
}

bool RollingWindow::can_take(double amount) const {
  if (amount > allowed_) return arrivals_.empty();
  return counted_ + amount <= allowed_;
}

std::chrono::milliseconds RollingWindow::wait_until_can_take(double amount) const {
  if (can_take(amount)) return std::chrono::milliseconds(0);
  SteadyClock::time_point room_at = arrivals_.back().at + length_;  // when the window is empty
  if (amount <= allowed_) {
    // The arrivals leave oldest first: find the one whose leaving makes room.
    double remaining = counted_;
    for (const Arrival& arrival : arrivals_) {
      remaining -= arrival.amount;
      if (remaining + amount <= allowed_) {
        room_at = arrival.at + length_;
        break;
      }
    }
  }
  return ceil_ms(std::chrono::duration<double>(room_at - now_).count());
}

void RollingWindow::take(double amount) {
  arrivals_.push_back(Arrival{now_, amount});
  counted_ += amount;
}

BucketState RollingWindow::state() const {
  const auto until_empty = arrivals_.empty() ? SteadyClock::duration::zero() : arrivals_.back().at + length_ - now_;
  return BucketState{limit_per_minute(), static_cast<std::int64_t>(std::floor(std::max(allowed_ - counted_, 0.0))),
                     ceil_ms(std::chrono::duration<double>(until_empty).count())};
}

namespace {
std::unique_ptr<Limit> make_limit(std::int64_t per_minute, double burst_seconds, double rolling_window_seconds) {
  if (per_minute <= 0) return nullptr;
  if (rolling_window_seconds > 0) return std::make_unique<RollingWindow>(per_minute, rolling_window_seconds);
  return std::make_unique<TokenBucket>(per_minute, burst_seconds, SteadyClock::now());
}
}  // namespace

RateLimiter::RateLimiter(std::int64_t requests_per_minute, std::int64_t tokens_per_minute, double burst_seconds,
                         double rolling_window_seconds)
    : requests_(make_limit(requests_per_minute, burst_seconds, rolling_window_seconds)),
      tokens_(make_limit(tokens_per_minute, burst_seconds, rolling_window_seconds)) {}

void RateLimiter::advance(SteadyClock::time_point now) {
  if (requests_) requests_->advance(now);
  if (tokens_) tokens_->advance(now);
}

RateDecision RateLimiter::admit(std::int64_t tokens, SteadyClock::time_point now) {
  const std::lock_guard lock(mutex_);
  advance(now);
  const double token_amount = static_cast<double>(tokens);
  const bool requests_ok = !requests_ || requests_->can_take(1.0);
  const bool tokens_ok = !tokens_ || tokens_->can_take(token_amount);
  if (requests_ok && tokens_ok) {
    if (requests_) requests_->take(1.0);
    if (tokens_) tokens_->take(token_amount);
    return snapshot();
  }
  RateDecision refused = snapshot();
  refused.allowed = false;
  // Requests are named first when both are exhausted; the wait covers both.
  if (!requests_ok) {
    refused.exceeded = "requests";
    refused.limit_per_minute = requests_->limit_per_minute();
    refused.requested = 1;
    refused.retry_after = requests_->wait_until_can_take(1.0);
  }
  if (!tokens_ok) {
    if (requests_ok) {
      refused.exceeded = "tokens";
      refused.limit_per_minute = tokens_->limit_per_minute();
      refused.requested = tokens;
    }
    refused.retry_after = std::max(refused.retry_after, tokens_->wait_until_can_take(token_amount));
  }
  return refused;
}

RateDecision RateLimiter::peek(SteadyClock::time_point now) {
  const std::lock_guard lock(mutex_);
  advance(now);
  return snapshot();
}

RateDecision RateLimiter::snapshot() const {
  RateDecision decision;
  if (requests_) decision.requests = requests_->state();
  if (tokens_) decision.tokens = tokens_->state();
  return decision;
}

std::string format_go_duration(std::chrono::milliseconds duration) {
  const std::int64_t total_ms = std::max<std::int64_t>(duration.count(), 0);
  if (total_ms == 0) return "0s";
  if (total_ms < 1000) return fmt::format("{}ms", total_ms);
  const std::int64_t hours = total_ms / 3'600'000;
  const std::int64_t minutes = total_ms / 60'000 % 60;
  const std::int64_t seconds = total_ms / 1000 % 60;
  const std::int64_t millis = total_ms % 1000;
  std::string out;
  if (hours > 0) out += fmt::format("{}h", hours);
  if (hours > 0 || minutes > 0) out += fmt::format("{}m", minutes);
  out += fmt::format("{}", seconds);
  if (millis > 0) {
    std::string fraction = fmt::format(".{:03}", millis);
    while (fraction.back() == '0') fraction.pop_back();
    out += fraction;
  }
  out += 's';
  return out;
}

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(time.time_since_epoch()).count();
  const std::time_t as_time_t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&as_time_t, &utc);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text, length);
}

void add_openai_rate_headers(const RateDecision& decision, HeaderList& headers) {
  auto add = [&](const std::optional<BucketState>& bucket, std::string_view what) {
    if (!bucket) return;
    headers.emplace_back(fmt::format("x-ratelimit-limit-{}", what), std::to_string(bucket->limit_per_minute));
    headers.emplace_back(fmt::format("x-ratelimit-remaining-{}", what), std::to_string(bucket->remaining));
    headers.emplace_back(fmt::format("x-ratelimit-reset-{}", what), format_go_duration(bucket->until_full));
  };
  add(decision.requests, "requests");
  add(decision.tokens, "tokens");
}

void add_anthropic_rate_headers(const RateDecision& decision, std::chrono::system_clock::time_point now,
                                HeaderList& headers) {
  auto add = [&](const std::optional<BucketState>& bucket, std::string_view what) {
    if (!bucket) return;
    headers.emplace_back(fmt::format("anthropic-ratelimit-{}-limit", what), std::to_string(bucket->limit_per_minute));
    headers.emplace_back(fmt::format("anthropic-ratelimit-{}-remaining", what), std::to_string(bucket->remaining));
    headers.emplace_back(fmt::format("anthropic-ratelimit-{}-reset", what), format_rfc3339(now + bucket->until_full));
  };
  add(decision.requests, "requests");
  add(decision.tokens, "tokens");
}

void add_retry_after_headers(std::chrono::milliseconds wait, HeaderList& headers) {
  const std::int64_t ms = std::max<std::int64_t>(wait.count(), 1);
  headers.emplace_back("retry-after", std::to_string(std::max<std::int64_t>((ms + 999) / 1000, 1)));
  headers.emplace_back("retry-after-ms", std::to_string(ms));
}

}  // namespace flowbatch::mock

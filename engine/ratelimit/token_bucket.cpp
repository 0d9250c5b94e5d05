#include "engine/ratelimit/token_bucket.h"

#include <algorithm>

namespace flowbatch {

namespace {
double capacity_for(double per_second) { return std::max(1.0, per_second); }  // one second's worth
}  // namespace

TokenBucket::TokenBucket(double per_minute, Clock::time_point now)
    : per_second_(per_minute / 60.0), capacity_(capacity_for(per_second_)), level_(0), updated_(now) {}

void TokenBucket::refill(Clock::time_point now) {
  if (now <= updated_) return;
  const double seconds = std::chrono::duration<double>(now - updated_).count();
  level_ = std::min(capacity_, level_ + seconds * per_second_);
  updated_ = now;
}

double TokenBucket::level(Clock::time_point now) {
  refill(now);
  return level_;
}

bool TokenBucket::try_take(double amount, Clock::time_point now) {
  refill(now);
  // A take larger than the bucket can never find that much in it: it goes when the bucket is
  // full, into debt.
  const double needed = std::min(amount, capacity_);
  if (level_ + 1e-9 < needed) return false;
  level_ -= amount;
  return true;
}

void TokenBucket::take(double amount, Clock::time_point now) {
  refill(now);
  level_ -= amount;
}

TokenBucket::Clock::time_point TokenBucket::when_available(double amount, Clock::time_point now) {
  refill(now);
  const double needed = std::min(amount, capacity_);
  if (level_ >= needed || per_second_ <= 0) return now;
  const double seconds = (needed - level_) / per_second_;
  return now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void TokenBucket::cap_level(double remaining, Clock::time_point now) {
  refill(now);
  level_ = std::min(level_, remaining);
}

void TokenBucket::set_per_minute(double per_minute, Clock::time_point now) {
  refill(now);
  per_second_ = per_minute / 60.0;
  capacity_ = capacity_for(per_second_);
  level_ = std::min(level_, capacity_);
}

}  // namespace flowbatch

#pragma once
// Server-side rate limits (--rpm, --tpm) as continuously refilling token buckets, and the headers
// each API uses to report them. A bucket holds --burst-seconds worth of its per-second rate, so a
// fresh server does not allow a whole minute's worth at once, as a real provider does not.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "mock_server/api_types.h"

namespace flowbatch::mock {

using SteadyClock = std::chrono::steady_clock;

/// What the rate-limit headers report about one bucket.
struct BucketState {
  std::int64_t limit_per_minute = 0;
  std::int64_t remaining = 0;
  std::chrono::milliseconds until_full{0};
};

struct RateDecision {
  bool allowed = true;
  std::string_view exceeded;  ///< "requests" or "tokens" when not allowed
  std::int64_t limit_per_minute = 0;  ///< of the exceeded bucket
  std::int64_t requested = 0;         ///< what the request asked of the exceeded bucket
  std::chrono::milliseconds retry_after{0};
  std::optional<BucketState> requests;  ///< set when --rpm is
  std::optional<BucketState> tokens;    ///< set when --tpm is
};

class TokenBucket {
 public:
  TokenBucket(std::int64_t per_minute, double burst_seconds, SteadyClock::time_point now);

  void refill(SteadyClock::time_point now);
  /// A request larger than the whole bucket is let through once the bucket is full (leaving it in
  /// debt), so an oversized request is slowed down, never refused forever.
  bool can_take(double amount) const { return level_ >= std::min(amount, capacity_); }
  std::chrono::milliseconds wait_until_can_take(double amount) const;
  void take(double amount) { level_ -= amount; }
  BucketState state() const;
  std::int64_t limit_per_minute() const { return per_minute_; }

 private:
  std::int64_t per_minute_;
  double per_second_;
  double capacity_;
  double level_;
  SteadyClock::time_point last_refill_;
};

class RateLimiter {
 public:
  RateLimiter(std::int64_t requests_per_minute, std::int64_t tokens_per_minute, double burst_seconds);

  /// Takes one request and `tokens` tokens if both buckets allow it; otherwise takes nothing.
  RateDecision admit(std::int64_t tokens, SteadyClock::time_point now);
  /// The buckets' state, for answers that consume nothing (errors, faults).
  RateDecision peek(SteadyClock::time_point now);

 private:
  RateDecision snapshot() const;

  std::mutex mutex_;
  std::optional<TokenBucket> requests_;
  std::optional<TokenBucket> tokens_;
};

/// Go's time.Duration style, as OpenAI's reset headers use: "0s", "12ms", "1.5s", "6m0s", "1h0m0s".
std::string format_go_duration(std::chrono::milliseconds duration);
/// "2024-05-01T12:00:03Z" (rounded up to the second).
std::string format_rfc3339(std::chrono::system_clock::time_point time);

/// x-ratelimit-{limit,remaining,reset}-{requests,tokens}, for the limits that are set.
void add_openai_rate_headers(const RateDecision& decision, HeaderList& headers);
/// anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}, for the limits that are set.
void add_anthropic_rate_headers(const RateDecision& decision, std::chrono::system_clock::time_point now,
                                HeaderList& headers);
/// retry-after (whole seconds, at least 1) and retry-after-ms.
void add_retry_after_headers(std::chrono::milliseconds wait, HeaderList& headers);

}  // namespace flowbatch::mock

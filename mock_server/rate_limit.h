#pragma once
// Server-side rate limits (--rpm, --tpm) and the headers each API uses to report them. By default
// each limit is a continuously refilling token bucket holding --burst-seconds worth of its
// per-second rate, so a fresh server does not allow a whole minute's worth at once. With
// --rolling-window-seconds S, each is instead a count of what arrived in the last S seconds, at most
// the limit's S seconds' worth (S = 60: N in any rolling minute, as OpenAI counts).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
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
  std::string_view exceeded;          ///< "requests" or "tokens" when not allowed
  std::int64_t limit_per_minute = 0;  ///< of the exceeded bucket
  std::int64_t requested = 0;         ///< what the request asked of the exceeded bucket
  std::chrono::milliseconds retry_after{0};
  std::optional<BucketState> requests;  ///< set when --rpm is
  std::optional<BucketState> tokens;    ///< set when --tpm is
};

/// One limit (requests, or tokens, per minute). advance() brings it to `now`; the rest is about then.
class Limit {
 public:
  explicit Limit(std::int64_t per_minute) : per_minute_(per_minute) {}
  virtual ~Limit() = default;

  virtual void advance(SteadyClock::time_point now) = 0;
  /// A request larger than the whole limit is let through once the limit is untouched (a full
  /// bucket, an empty window), so an oversized request is slowed down, never refused forever.
  virtual bool can_take(double amount) const = 0;
  virtual std::chrono::milliseconds wait_until_can_take(double amount) const = 0;
  virtual void take(double amount) = 0;
  virtual BucketState state() const = 0;
  std::int64_t limit_per_minute() const { return per_minute_; }

 private:
  std::int64_t per_minute_;
};

class TokenBucket final : public Limit {
 public:
  TokenBucket(std::int64_t per_minute, double burst_seconds, SteadyClock::time_point now);

  void advance(SteadyClock::time_point now) override;
  bool can_take(double amount) const override { return level_ >= std::min(amount, capacity_); }
  std::chrono::milliseconds wait_until_can_take(double amount) const override;
  void take(double amount) override { level_ -= amount; }
  BucketState state() const override;

 private:
  double per_second_;
  double capacity_;
  double level_;
  SteadyClock::time_point last_refill_;
};

/// Whatever arrived in the last `seconds`, at most `per_minute * seconds / 60` of it: no burst
/// allowance, no smoothing, just the count, as a server that keeps a log of requests does.
class RollingWindow final : public Limit {
 public:
  RollingWindow(std::int64_t per_minute, double seconds);

  void advance(SteadyClock::time_point now) override;
  bool can_take(double amount) const override;
  std::chrono::milliseconds wait_until_can_take(double amount) const override;
  void take(double amount) override;
  BucketState state() const override;

 private:
  struct Arrival {
    SteadyClock::time_point at;
    double amount;
  };
  SteadyClock::duration length_;
  double allowed_;                // in any window
  std::deque<Arrival> arrivals_;  // within the window, oldest first
  double counted_ = 0;            // their sum
  SteadyClock::time_point now_{};
};

class RateLimiter {
 public:
  /// --rpm, --tpm, --burst-seconds and --rolling-window-seconds (0: token buckets).
  RateLimiter(std::int64_t requests_per_minute, std::int64_t tokens_per_minute, double burst_seconds,
              double rolling_window_seconds);

  /// Takes one request and `tokens` tokens if both buckets allow it; otherwise takes nothing.
  RateDecision admit(std::int64_t tokens, SteadyClock::time_point now);
  /// The buckets' state, for answers that consume nothing (errors, faults).
  RateDecision peek(SteadyClock::time_point now);

 private:
  RateDecision snapshot() const;

  void advance(SteadyClock::time_point now);

  std::mutex mutex_;
  std::unique_ptr<Limit> requests_;
  std::unique_ptr<Limit> tokens_;
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

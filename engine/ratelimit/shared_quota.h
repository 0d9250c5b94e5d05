#pragma once
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engine/core/console.h"
#include "engine/io/event_loop.h"
#include "engine/ratelimit/quota_store.h"
#include "engine/ratelimit/rate_gate.h"

namespace flowbatch {

/// Slots of a shared timeline this process reserved (quota_store.h), spent in order: each run of
/// slots starts at a moment and has one unit per interval after it.
class PermitStream {
 public:
  using Clock = std::chrono::steady_clock;
  double left() const;
  /// When the next unit is due (a stream with none left: never).
  Clock::time_point next_at() const;
  void add(Clock::time_point start, double interval_us, double amount);
  void spend(double amount);
  /// Units due before `when` are given up (a pause came: they would all go at once after it).
  void drop_before(Clock::time_point when);

 private:
  struct Run {
    Clock::time_point start;  // when its next unit is due
    double interval_us;
    double left;
  };
  std::deque<Run> runs_;
};

/// This process's share of a limit shared with other processes: requests/min, tokens/min and a
/// concurrency semaphore, kept in a QuotaStore. It asks the store for a small block of permits at
/// a time (a quarter of a second's worth of requests, the slots and tokens of what waits), one
/// step under way at a time, so most requests start without a round trip; slots it holds are
/// reused until nothing waits, then given back. Holding slots, it renews its lease every third of
/// it. A 429 pauses every process sharing the limit (the store's pause), and a limit the server
/// announces lower than the configured one is used instead.
///
/// Loop thread only. Requests are granted in the order they asked.
class SharedQuota {
 public:
  using Clock = std::chrono::steady_clock;
  using Ready = std::function<void(bool go)>;
  /// Called once when the store was never reached: the run cannot go on (what to tell the user).
  using GiveUp = std::function<void(const std::string& why)>;
  struct Limits {
    double requests_per_minute = 0;  ///< 0: none
    double tokens_per_minute = 0;    ///< 0: none
    std::size_t concurrency = 0;     ///< 0: none
  };

  SharedQuota(std::unique_ptr<QuotaStore> store, Limits limits, std::chrono::milliseconds lease, EventLoop& loop,
              Logger log, GiveUp give_up);

  void acquire(double tokens, Ready ready);
  /// A granted request ended: its slot is free again; tokens it used beyond its estimate are
  /// charged; a 429 pauses everyone sharing the limit.
  void finished(const AttemptFeedback& feedback);
  /// A granted request was not sent: its slot is free again.
  void cancelled();
  void set_limits(const RateGate::LimitChange& change);
  /// Every waiting request (and every later one) is refused; held slots are given back.
  void stop();

  /// For the run's status (any thread).
  double requests_per_minute() const { return requests_per_minute_seen_.load(); }
  double tokens_per_minute() const { return tokens_per_minute_seen_.load(); }
  std::size_t waiting() const { return waiting_seen_.load(); }

 private:
  struct Waiting {
    double tokens;
    Ready ready;
  };

  void pump();
  bool may_start(const Waiting& next, Clock::time_point now);
  void replenish();
  void take_step(const QuotaAsk& ask);
  QuotaAsk next_ask(Clock::time_point now);
  void granted(const QuotaAsk& ask, const QuotaGrant& grant);
  void failed(const std::string& error);
  void pause_until(Clock::time_point until);
  void give_back_spare(std::int64_t fair_slots);
  void heartbeat();
  void arm(Clock::time_point when);
  void publish();
  double request_interval_us() const;
  double token_interval_us() const;
  std::chrono::microseconds lateness() const;

  std::unique_ptr<QuotaStore> store_;
  Limits limits_;
  std::optional<double> announced_requests_;  // a lower limit the server announced
  std::optional<double> announced_tokens_;
  std::chrono::milliseconds lease_;
  EventLoop& loop_;
  Logger log_;
  GiveUp give_up_;
  std::string holder_;
  std::deque<Waiting> waiting_;
  PermitStream requests_;
  PermitStream tokens_;
  std::int64_t spare_slots_ = 0;     // held, free for the next request
  std::int64_t busy_slots_ = 0;      // held by requests under way
  std::int64_t to_return_ = 0;       // given back at the next step
  double extra_tokens_ = 0;          // charged at the next step
  std::int64_t pause_to_share_ = 0;  // µs, sent at the next step
  bool asking_ = false;
  bool reached_ = false;  // a step ever succeeded
  bool stopped_ = false;
  Clock::time_point paused_until_{};
  Clock::time_point slots_retry_at_{};  // none were free at the last step: ask again then
  Clock::time_point retry_at_{};        // the store failed: ask again then
  Clock::time_point last_step_{};
  Clock::time_point next_failure_log_{};
  std::chrono::milliseconds failure_wait_{100};
  std::optional<Clock::time_point> armed_at_;
  std::atomic<double> requests_per_minute_seen_{0};
  std::atomic<double> tokens_per_minute_seen_{0};
  std::atomic<std::size_t> waiting_seen_{0};
};

}  // namespace flowbatch

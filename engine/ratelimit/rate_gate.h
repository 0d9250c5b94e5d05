#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "flowbatch/provider.h"

namespace flowbatch {

/// What the gate learns from one finished attempt.
struct AttemptFeedback {
  std::chrono::nanoseconds rtt{0};
  double estimated_tokens = 0;
  double used_tokens = -1;     ///< from the response's usage; -1 when unknown
  bool back_pressure = false;  ///< 429, 503/529 or a time-out: the server is overwhelmed
  bool rate_limited = false;   ///< a 429 (the provider cools down)
  RateLimitSignals signals;
  std::uint64_t ticket = 0;  ///< the number the gate gave the request when it started
};

/// How long the server says to hold off after a 429: its Retry-After, else the reset of a bucket it
/// reports empty; nothing when it says neither.
std::optional<std::chrono::milliseconds> server_pause(const RateLimitSignals& signals);

/// Decides when each request to one provider may start. The provider lane holds one and does not
/// know which: LocalRateGate (this process's limits) or SharedRateGate (limits shared with other
/// flowbatch processes through Redis or a file on this machine).
///
/// request(), finished(), cancelled(), stop(), pause(), resume() and change_limits() may be called
/// from any thread; Start callbacks run on the I/O loop's thread.
class RateGate {
 public:
  using Clock = std::chrono::steady_clock;
  /// Called on the loop thread: `go` true when the request may start now (with its ticket, the
  /// number of starts before it), false when the gate was stopped (a hard stop or an exhausted
  /// quota) and it never will.
  using Start = std::function<void(bool go, std::uint64_t ticket)>;

  /// Limits changed while running (the run's control API); each unset one is kept. A limit of 0
  /// removes requests_per_minute or tokens_per_minute; `concurrency` (at least 1) makes the limit
  /// fixed. Applied on the loop thread, which then calls `applied` (also when the run stops first).
  struct LimitChange {
    std::optional<double> requests_per_minute;
    std::optional<double> tokens_per_minute;
    std::optional<std::size_t> concurrency;
  };

  virtual ~RateGate() = default;

  virtual void request(double estimated_tokens, Start start) = 0;
  virtual void finished(AttemptFeedback feedback) = 0;

  /// A request waiting for the gate: its estimate and what starts it.
  struct Wanted {
    double estimated_tokens = 0;
    Start start;
  };
  /// Several requests (or finished attempts) at once, in order: as request() (finished()) for
  /// each, in one message to the loop instead of one each.
  virtual void request_all(std::vector<Wanted> wanted) {
    for (Wanted& w : wanted) request(w.estimated_tokens, std::move(w.start));
  }
  virtual void finished_all(const std::vector<AttemptFeedback>& feedback) {
    for (const AttemptFeedback& f : feedback) finished(f);
  }
  /// A request the gate let go was not sent after all (the run is stopping): free its slot.
  virtual void cancelled() = 0;
  /// Stops for good: every waiting request (and every later one) is told not to go.
  virtual void stop() = 0;
  /// Pause: no request starts until resume() (requests under way finish; waiting ones keep
  /// their place). A stop still releases everything waiting.
  virtual void pause() = 0;
  virtual void resume() = 0;
  virtual bool paused() const = 0;
  virtual void change_limits(LimitChange change, std::function<void()> applied) = 0;

  /// For tests and the summary: the current concurrency limit and request rate (0: none).
  virtual std::size_t concurrency_limit() const = 0;
  virtual double requests_per_minute() const = 0;
  virtual double tokens_per_minute() const = 0;
  /// Provider-wide pauses after 429s, and their total length.
  virtual std::uint64_t pauses() const = 0;
  virtual std::uint64_t paused_ms() const = 0;
  /// Requests started and not yet finished, and requests waiting to start (for /metrics).
  virtual std::size_t in_flight() const = 0;
  virtual std::size_t waiting() const = 0;
};

}  // namespace flowbatch

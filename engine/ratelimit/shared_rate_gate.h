#pragma once
#include <memory>

#include "engine/ratelimit/local_rate_gate.h"
#include "engine/ratelimit/shared_quota.h"

namespace flowbatch {

/// A provider's gate when its limits are shared with other flowbatch processes (`shared_limit`):
/// a request first passes this process's own gate (its concurrency, pauses, what the server's
/// headers teach it), then waits for the shared quota's permits (requests/min, tokens/min and a
/// slot of the shared concurrency). The lane sees a RateGate like any other.
class SharedRateGate final : public RateGate {
 public:
  SharedRateGate(const RateSettings& settings, std::unique_ptr<QuotaStore> store, EventLoop& loop, const Logger& log,
                 SharedQuota::GiveUp give_up);

  void request(double estimated_tokens, Start start) override;
  void finished(AttemptFeedback feedback) override;
  void cancelled() override;
  void stop() override;
  void pause() override { local_.pause(); }
  void resume() override { local_.resume(); }
  bool paused() const override { return local_.paused(); }
  void change_limits(LimitChange change, std::function<void()> applied) override;

  std::size_t concurrency_limit() const override { return local_.concurrency_limit(); }
  double requests_per_minute() const override { return quota_.requests_per_minute(); }
  double tokens_per_minute() const override { return quota_.tokens_per_minute(); }
  std::uint64_t pauses() const override { return local_.pauses(); }
  std::uint64_t paused_ms() const override { return local_.paused_ms(); }
  /// The local gate counts a request waiting for shared permits as started; it is still waiting.
  std::size_t in_flight() const override { return local_.in_flight() - std::min(local_.in_flight(), quota_.waiting()); }
  std::size_t waiting() const override { return local_.waiting() + quota_.waiting(); }

 private:
  EventLoop& loop_;
  LocalRateGate local_;
  SharedQuota quota_;
};

/// The gate `settings` ask for: a LocalRateGate, or a SharedRateGate on Redis or a file of this
/// machine. `give_up` is told when a shared limit cannot be reached at all.
std::unique_ptr<RateGate> make_rate_gate(const RateSettings& settings, EventLoop& loop, Logger log,
                                         SharedQuota::GiveUp give_up);

}  // namespace flowbatch

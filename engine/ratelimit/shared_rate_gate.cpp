#include "engine/ratelimit/shared_rate_gate.h"

#include "engine/ratelimit/file_quota_store.h"
#include "engine/ratelimit/redis_quota_store.h"

namespace flowbatch {

namespace {

/// The local gate keeps the concurrency; the per-minute limits are the shared quota's.
RateSettings local_part(RateSettings settings) {
  settings.requests_per_minute = 0;
  settings.tokens_per_minute = 0;
  return settings;
}

/// What the server says of its per-minute limits counts every process's requests: the shared
/// quota reads it. Learnt by the local gate, the budget left would be charged again with this
/// process's own starts, and it would hold back requests whose shared slots then go unused. It
/// keeps how long a 429 said to wait.
AttemptFeedback local_part(AttemptFeedback feedback) {
  const std::optional<std::chrono::milliseconds> pause = server_pause(feedback.signals);
  const std::optional<bool> should_retry = feedback.signals.should_retry;
  feedback.signals = RateLimitSignals{};
  feedback.signals.retry_after = pause;
  feedback.signals.should_retry = should_retry;
  return feedback;
}

SharedQuota::Limits quota_limits_of(const RateSettings& s) {
  return SharedQuota::Limits{s.requests_per_minute, s.tokens_per_minute, s.concurrency_limit};
}

}  // namespace

SharedRateGate::SharedRateGate(const RateSettings& settings, std::unique_ptr<QuotaStore> store, EventLoop& loop,
                               const Logger& log, SharedQuota::GiveUp give_up)
    : loop_(loop),
      local_(local_part(settings), loop, log),
      quota_(std::move(store), quota_limits_of(settings), settings.shared.lease, loop, log, std::move(give_up)) {}

void SharedRateGate::request(double estimated_tokens, Start start) {
  local_.request(estimated_tokens, [this, estimated_tokens, start = std::move(start)](bool go, std::uint64_t ticket) {
    if (!go) return start(false, 0);
    quota_.acquire(estimated_tokens, [this, start, ticket](bool granted) {
      if (!granted) local_.cancelled();  // the local gate let it go: give its slot back
      start(granted, ticket);
    });
  });
}

void SharedRateGate::finished(AttemptFeedback feedback) {
  loop_.post([this, feedback] { quota_.finished(feedback); }, [this] { quota_.stop(); });
  local_.finished(local_part(feedback));
}

void SharedRateGate::cancelled() {
  loop_.post([this] { quota_.cancelled(); }, [this] { quota_.stop(); });
  local_.cancelled();
}

void SharedRateGate::stop() {
  loop_.post([this] { quota_.stop(); }, [this] { quota_.stop(); });
  local_.stop();
}

void SharedRateGate::change_limits(LimitChange change, std::function<void()> applied) {
  loop_.post([this, change] { quota_.set_limits(change); }, [this] { quota_.stop(); });
  local_.change_limits(LimitChange{std::nullopt, std::nullopt, change.concurrency}, std::move(applied));
}

std::unique_ptr<RateGate> make_rate_gate(const RateSettings& settings, EventLoop& loop, Logger log,
                                         SharedQuota::GiveUp give_up) {
  const SharedLimitSettings& shared = settings.shared;
  switch (shared.store) {
    case SharedLimitSettings::Store::none: break;
    case SharedLimitSettings::Store::redis:
      return std::make_unique<SharedRateGate>(
          settings, std::make_unique<RedisQuotaStore>(loop, shared.redis, shared.timeout, shared.key), loop, log,
          std::move(give_up));
    case SharedLimitSettings::Store::local:
      return std::make_unique<SharedRateGate>(settings, std::make_unique<FileQuotaStore>(shared.key), loop, log,
                                              std::move(give_up));
  }
  return std::make_unique<LocalRateGate>(settings, loop, std::move(log));
}

}  // namespace flowbatch

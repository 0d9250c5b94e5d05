#pragma once
#include <string>

#include "engine/io/redis_async.h"
#include "engine/ratelimit/quota_store.h"

namespace flowbatch {

/// A shared limit kept in Redis: each step is one Lua script (EVALSHA, EVAL when the server does
/// not know it yet), atomic on the server and timed by the server's own clock (TIME), so workers
/// on machines whose clocks differ still share one timeline. Its keys are
/// flowbatch:limit:{KEY} (the TATs and the pause) and flowbatch:limit:{KEY}:slots / :leases (the
/// semaphore); they expire a day after the last step.
class RedisQuotaStore final : public QuotaStore {
 public:
  RedisQuotaStore(EventLoop& loop, const RedisAddress& address, std::chrono::milliseconds timeout,
                  const std::string& key);

  void take(const QuotaAsk& ask, Done done) override;
  std::string describe() const override { return redis_.address().describe(); }

  /// The script, for the tests of its semantics.
  static const std::string& script();

 private:
  std::vector<std::string> arguments(const QuotaAsk& ask, bool by_sha) const;
  void read(const RedisValue& reply, const QuotaAsk& ask, const Done& done, bool by_sha);

  RedisAsync redis_;
  std::vector<std::string> keys_;
  std::string sha_;  // the script's SHA1 once the server told it (SCRIPT LOAD)
  bool loading_ = false;
};

}  // namespace flowbatch

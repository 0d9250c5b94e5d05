#include "engine/ratelimit/redis_quota_store.h"

#include <fmt/format.h>

namespace flowbatch {

// ARGV: holder, requests, tokens, slots, returned_slots, extra_tokens, pause_us,
//       request_interval_us, token_interval_us, concurrency, lease_us.
// Returns {requests_in_us, tokens_in_us, slots granted, paused_for_us, fair_slots}. The same steps as
// FileQuotaStore's (quota_store.h says what they mean).
const std::string& RedisQuotaStore::script() {
  static const std::string text = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local holder = ARGV[1]
local want_requests, want_tokens = tonumber(ARGV[2]), tonumber(ARGV[3])
local want_slots, returned = tonumber(ARGV[4]), tonumber(ARGV[5])
local extra_tokens, pause_us = tonumber(ARGV[6]), tonumber(ARGV[7])
local request_interval, token_interval = tonumber(ARGV[8]), tonumber(ARGV[9])
local concurrency, lease_us = tonumber(ARGV[10]), tonumber(ARGV[11])
local state, slots, leases = KEYS[1], KEYS[2], KEYS[3]

for _, gone in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
  redis.call('HDEL', slots, gone)
  redis.call('ZREM', leases, gone)
end

local pause_until = tonumber(redis.call('HGET', state, 'pause_until') or '0')
if pause_us > 0 and now + pause_us > pause_until then
  pause_until = now + pause_us
  redis.call('HSET', state, 'pause_until', string.format('%.0f', pause_until))
end
local earliest = math.max(now, pause_until)

local function reserve(field, amount, interval, extra)
  if interval <= 0 or (amount <= 0 and extra <= 0) then return 0 end
  local tat = math.max(tonumber(redis.call('HGET', state, field) or '0'), now) + extra * interval
  local start = math.max(tat, earliest)
  if amount > 0 then tat = start + amount * interval end
  redis.call('HSET', state, field, string.format('%.0f', tat))
  return start - now
end
local requests_in = reserve('request_tat', want_requests, request_interval, 0)
local tokens_in = reserve('token_tat', want_tokens, token_interval, extra_tokens)

local mine = tonumber(redis.call('HGET', slots, holder) or '0')
local holders = redis.call('ZCARD', leases)
if not redis.call('ZSCORE', leases, holder) then holders = holders + 1 end
local fair = concurrency > 0 and math.ceil(concurrency / holders) or 0
local held = math.max(0, mine - returned)
local granted = 0
if want_slots > 0 then
  granted = want_slots
  if concurrency > 0 then
    local total = held - mine
    for _, n in ipairs(redis.call('HVALS', slots)) do total = total + tonumber(n) end
    granted = math.max(0, math.min(want_slots, concurrency - total, fair - held))
  end
end
held = held + granted
if held > 0 or want_slots > 0 then  -- one that waits for slots counts in the fair share
  redis.call('HSET', slots, holder, held)
  redis.call('ZADD', leases, now + lease_us, holder)
else
  redis.call('HDEL', slots, holder)
  redis.call('ZREM', leases, holder)
end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, 86400000) end
return {math.floor(requests_in), math.floor(tokens_in), granted, math.max(0, math.floor(pause_until - now)), fair}
)lua";
  return text;
}

RedisQuotaStore::RedisQuotaStore(EventLoop& loop, const RedisAddress& address, std::chrono::milliseconds timeout,
                                 const std::string& key)
    : redis_(loop, address, timeout),
      keys_{fmt::format("flowbatch:limit:{{{}}}", key), fmt::format("flowbatch:limit:{{{}}}:slots", key),
            fmt::format("flowbatch:limit:{{{}}}:leases", key)} {}

std::vector<std::string> RedisQuotaStore::arguments(const QuotaAsk& a, bool by_sha) const {
  std::vector<std::string> args = {by_sha ? "EVALSHA" : "EVAL", by_sha ? sha_ : script(), "3"};
  args.insert(args.end(), keys_.begin(), keys_.end());
  for (std::string value :
       {a.holder, std::to_string(a.requests), fmt::format("{:.3f}", a.tokens), std::to_string(a.slots),
        std::to_string(a.returned_slots), fmt::format("{:.3f}", a.extra_tokens), std::to_string(a.pause_us),
        fmt::format("{:.3f}", a.request_interval_us), fmt::format("{:.6f}", a.token_interval_us),
        std::to_string(a.concurrency), std::to_string(a.lease_us)})
    args.push_back(std::move(value));
  return args;
}

void RedisQuotaStore::take(const QuotaAsk& ask, Done done) {
  const bool by_sha = !sha_.empty();
  if (!by_sha && !loading_) {  // EVAL now, and learn the SHA for the steps after it
    loading_ = true;
    redis_.command({"SCRIPT", "LOAD", script()}, [this](const RedisValue& reply) {
      loading_ = false;
      if (reply.kind == RedisValue::Kind::text) sha_ = reply.text;
    });
  }
  redis_.command(arguments(ask, by_sha), [this, ask, done = std::move(done), by_sha](const RedisValue& reply) {
    read(reply, ask, done, by_sha);
  });
}

void RedisQuotaStore::read(const RedisValue& reply, const QuotaAsk& ask, const Done& done, bool by_sha) {
  if (by_sha && reply.is_error() && reply.text.starts_with("NOSCRIPT")) {  // the server restarted: send it whole
    sha_.clear();
    return take(ask, done);
  }
  if (reply.is_error()) return done(nullptr, reply.text);
  if (reply.kind != RedisValue::Kind::array || reply.elements.size() != 5)
    return done(nullptr, fmt::format("{}: the limit script answered something unexpected", describe()));
  const QuotaGrant grant{reply.elements[0].integer, reply.elements[1].integer, reply.elements[2].integer,
                         reply.elements[3].integer, reply.elements[4].integer};
  done(&grant, {});
}

}  // namespace flowbatch

#pragma once
#include <chrono>
#include <cstddef>
#include <string>

#include "engine/io/redis_connection.h"

namespace flowbatch {

/// Where a provider's limits are shared with other flowbatch processes (`shared_limit`).
struct SharedLimitSettings {
  enum class Store { none, redis, local };
  Store store = Store::none;
  RedisAddress redis;                       ///< Store::redis (may hold a password: print only its describe())
  std::string key;                          ///< what the limit is shared under: shared_limit_key, or local:NAME's NAME
  std::chrono::milliseconds lease{10000};   ///< a holder not heard from for this long gives its slots back
  std::chrono::milliseconds timeout{5000};  ///< one round trip to Redis
};

/// The limits a provider is held to (provider keys; see docs/config.md).
struct RateSettings {
  double requests_per_minute = 0;  ///< 0: none configured (a server's own limit is still obeyed)
  double tokens_per_minute = 0;
  bool adaptive = false;  ///< max_concurrency = "adaptive"
  std::size_t initial_concurrency = 4;
  std::size_t concurrency_limit = 16;  ///< the fixed limit, or the adaptive one's ceiling
  SharedLimitSettings shared;          ///< with a store, the three limits above are shared by every process using it
  /// The most the limit may be set to while running (POST /limits): max_concurrency_limit, or a
  /// fixed limit above it. The provider's lane is built for this many requests at once.
  std::size_t concurrency_ceiling = 256;
  /// The ceiling, never below the limit itself (settings made in code may set only the limit).
  std::size_t highest_concurrency() const {
    return concurrency_ceiling > concurrency_limit ? concurrency_ceiling : concurrency_limit;
  }
};

}  // namespace flowbatch

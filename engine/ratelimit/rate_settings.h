#pragma once
#include <cstddef>

namespace flowbatch {

/// The limits a provider is held to (provider keys; see docs/config.md).
struct RateSettings {
  double requests_per_minute = 0;  ///< 0: none configured (a server's own limit is still obeyed)
  double tokens_per_minute = 0;
  bool adaptive = false;  ///< max_concurrency = "adaptive"
  std::size_t initial_concurrency = 4;
  std::size_t concurrency_limit = 16;  ///< the fixed limit, or the adaptive one's ceiling
  /// The most the limit may be set to while running (POST /limits): max_concurrency_limit, or a
  /// fixed limit above it. The provider's lane is built for this many requests at once.
  std::size_t concurrency_ceiling = 256;
  /// The ceiling, never below the limit itself (settings made in code may set only the limit).
  std::size_t highest_concurrency() const {
    return concurrency_ceiling > concurrency_limit ? concurrency_ceiling : concurrency_limit;
  }
};

}  // namespace flowbatch

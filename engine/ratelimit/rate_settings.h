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
};

}  // namespace flowbatch

#include "engine/core/backoff.h"

#include <algorithm>
#include <cmath>

namespace flowbatch {

std::chrono::milliseconds Backoff::ceiling(std::uint32_t attempt) const {
  const double exponent = attempt > 0 ? static_cast<double>(attempt - 1) : 0.0;
  const double ms = static_cast<double>(initial.count()) * std::pow(multiplier, exponent);
  const double capped = std::min(ms, static_cast<double>(max.count()));  // pow may overflow to inf
  return std::chrono::milliseconds(static_cast<std::int64_t>(capped));
}

std::chrono::milliseconds Backoff::delay(std::uint32_t attempt, std::mt19937_64& rng) const {
  const std::int64_t top = ceiling(attempt).count();
  switch (jitter) {
    case Jitter::none: return std::chrono::milliseconds(top);
    case Jitter::equal: {
      std::uniform_int_distribution<std::int64_t> d(top / 2, top);
      return std::chrono::milliseconds(d(rng));
    }
    case Jitter::full: {
      std::uniform_int_distribution<std::int64_t> d(0, top);
      return std::chrono::milliseconds(d(rng));
    }
  }
  return std::chrono::milliseconds(top);
}

void ReconnectPacing::failed() {
  const auto delay = std::chrono::milliseconds(100) * (1u << std::min<std::uint32_t>(failures_, 6));
  next_attempt_ =
      std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(5));
  ++failures_;
}

}  // namespace flowbatch

#include "engine/runtime/metrics.h"

#include <algorithm>
#include <cmath>

namespace flowbatch {

namespace {
constexpr double kFirstMs = 0.1;
constexpr double kRatio = 1.19;
}  // namespace

std::size_t LatencyHistogram::bucket_of(double ms) {
  if (ms <= kFirstMs) return 0;
  const double b = std::ceil(std::log(ms / kFirstMs) / std::log(kRatio));
  return std::min<std::size_t>(kBuckets - 1, static_cast<std::size_t>(b));
}

double LatencyHistogram::upper_ms(std::size_t bucket) {
  return kFirstMs * std::pow(kRatio, static_cast<double>(bucket));
}

void LatencyHistogram::record(std::chrono::nanoseconds latency) {
  const double ms = std::chrono::duration<double, std::milli>(latency).count();
  buckets_[bucket_of(ms)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count())), std::memory_order_relaxed);
}

LatencyHistogram::Counts LatencyHistogram::counts() const {
  Counts out{};
  for (std::size_t i = 0; i < kBuckets; ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

double LatencyHistogram::percentile_ms(const Counts& counts, double q) {
  std::uint64_t total = 0;
  for (const auto n : counts) total += n;
  if (total == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) return upper_ms(i);
  }
  return upper_ms(kBuckets - 1);
}

}  // namespace flowbatch

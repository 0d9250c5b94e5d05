#include "mock_server/faults.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/core/hash.h"

namespace flowbatch::mock {

std::string_view fault_name(Fault fault) {
  switch (fault) {
    case Fault::none: return "none";
    case Fault::server_error: return "error";
    case Fault::reset: return "reset";
    case Fault::malformed: return "malformed";
    case Fault::truncated: return "truncated";
    case Fault::hang: return "hang";
    case Fault::quota: return "quota";
    case Fault::trickle: return "trickle";
  }
  return "unknown";
}

double Dice::roll(std::uint64_t request_sequence, Purpose purpose) const {
  return unit_interval(hash_combine(hash_combine(seed_, request_sequence), static_cast<std::uint64_t>(purpose)));
}

Fault FaultPlan::decide(double roll) const {
  const std::pair<double, Fault> intervals[] = {
      {rates_.server_error, Fault::server_error}, {rates_.reset, Fault::reset}, {rates_.malformed, Fault::malformed},
      {rates_.truncated, Fault::truncated},       {rates_.hang, Fault::hang},   {rates_.quota, Fault::quota},
      {rates_.trickle, Fault::trickle},
  };
  double upper = 0;
  for (const auto& [rate, fault] : intervals) {
    upper += rate;
    if (roll < upper) return fault;
  }
  return Fault::none;
}

std::chrono::milliseconds LatencyModel::sample(double u1, double u2) const {
  if (mean_ms_ <= 0) return std::chrono::milliseconds(0);
  // Box-Muller; u1 is kept away from 0 so the logarithm stays finite.
  const double z = std::sqrt(-2.0 * std::log(std::max(u1, 1e-12))) * std::cos(2.0 * std::numbers::pi * u2);
  const double mu = std::log(mean_ms_) - sigma_ * sigma_ / 2.0;
  // A wide sigma has absurd tails (exp of 8 sigmas); no simulated request waits over 100 means.
  const double ms = std::min(std::exp(mu + sigma_ * z), 100.0 * mean_ms_);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

}  // namespace flowbatch::mock

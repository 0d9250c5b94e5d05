#pragma once
// Simulated conditions: which fault (if any) hits a request, and how long it waits. Both are drawn
// from a counter-based generator (a hash of the seed, the request's sequence number and a purpose),
// so a run is reproducible for a given arrival order and threads never contend on an RNG state.
#include <chrono>
#include <cstdint>
#include <string_view>

#include "mock_server/options.h"

namespace flowbatch::mock {

enum class Fault { none, server_error, reset, malformed, truncated, hang, quota, trickle };

/// The name of a fault in /stats ("error", "reset", ...).
std::string_view fault_name(Fault fault);

/// Independent uniform draws in [0, 1) per (request, purpose).
class Dice {
 public:
  enum class Purpose : std::uint64_t { fault = 1, fault_detail, latency_u1, latency_u2 };
  explicit Dice(std::uint64_t seed) : seed_(seed) {}
  double roll(std::uint64_t request_sequence, Purpose purpose) const;

 private:
  std::uint64_t seed_;
};

class FaultPlan {
 public:
  explicit FaultPlan(const FaultRates& rates) : rates_(rates) {}
  /// Maps one uniform roll onto consecutive intervals, one per fault, so the rates add up.
  Fault decide(double roll) const;

 private:
  FaultRates rates_;
};

/// A lognormal with the given mean (mu = ln(mean) - sigma^2/2); sigma 0 gives the mean exactly.
class LatencyModel {
 public:
  LatencyModel(double mean_ms, double sigma) : mean_ms_(mean_ms), sigma_(sigma) {}
  std::chrono::milliseconds sample(double u1, double u2) const;

 private:
  double mean_ms_;
  double sigma_;
};

}  // namespace flowbatch::mock

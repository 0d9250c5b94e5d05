#pragma once
// The run's cost cap ([pipeline] max_cost_usd). Before a request starts, the most it can cost is
// reserved; a request whose reservation would take spent + reserved over the cap does not start.
// When the answer is in, the reservation is settled with what it really cost. Since no request's
// cost can exceed its reservation, the total spent never exceeds the cap.
#include <cstdint>
#include <mutex>

#include "engine/cost/price.h"

namespace flowbatch {

struct CostLimits {
  NanoUsd cap = 0;           ///< the most the job may cost, earlier runs of its state included (0: no cap)
  NanoUsd warn = 0;          ///< say so once when spending passes this (0: never)
  NanoUsd spent_before = 0;  ///< what earlier runs of the same state spent
};

class Budget {
 public:
  explicit Budget(CostLimits limits) : limits_(limits), spent_(limits.spent_before) {}

  bool capped() const { return limits_.cap > 0; }
  const CostLimits& limits() const { return limits_; }
  /// Reserves `worst` for a request about to start; false (nothing reserved) when that would take
  /// spent + reserved over the cap.
  bool reserve(NanoUsd worst);
  /// A reserved request ended: `actual` is what it cost (0 when it was never sent).
  void settle(NanoUsd reserved, NanoUsd actual);
  /// A request that was not reserved (no cap, or its cost came from elsewhere) cost `actual`.
  void spend(NanoUsd actual);
  /// Spent so far, earlier runs included.
  NanoUsd spent() const;
  NanoUsd reserved() const;
  /// True exactly once: the first time spending has passed the warning threshold.
  bool take_warning();

 private:
  const CostLimits limits_;
  mutable std::mutex mutex_;
  NanoUsd spent_ = 0;     // guarded by mutex_
  NanoUsd reserved_ = 0;  // guarded by mutex_
  bool warned_ = false;   // guarded by mutex_
};

}  // namespace flowbatch

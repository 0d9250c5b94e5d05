#include "engine/cost/budget.h"

namespace flowbatch {

bool Budget::reserve(NanoUsd worst) {
  std::lock_guard lock(mutex_);
  if (capped() && spent_ + reserved_ + worst > limits_.cap) return false;
  reserved_ += worst;
  return true;
}

void Budget::settle(NanoUsd reserved, NanoUsd actual) {
  std::lock_guard lock(mutex_);
  reserved_ -= reserved;
  spent_ += actual;
}

void Budget::spend(NanoUsd actual) {
  std::lock_guard lock(mutex_);
  spent_ += actual;
}

NanoUsd Budget::spent() const {
  std::lock_guard lock(mutex_);
  return spent_;
}

NanoUsd Budget::reserved() const {
  std::lock_guard lock(mutex_);
  return reserved_;
}

bool Budget::take_warning() {
  std::lock_guard lock(mutex_);
  if (warned_ || limits_.warn <= 0 || spent_ < limits_.warn) return false;
  warned_ = true;
  return true;
}

}  // namespace flowbatch

#include "engine/ratelimit/rolling_window.h"

#include <algorithm>

namespace flowbatch {

namespace {
constexpr double kSlack = 1e-9;  // sums of doubles drift; whole requests must still fit exactly
}

RollingWindow::RollingWindow(double limit, Clock::duration length) : limit_(limit), length_(length) {}

void RollingWindow::forget_before(Clock::time_point now) {
  // The window is (now - length, now]: a take exactly `length` old has left it.
  while (!takes_.empty() && takes_.front().at + length_ <= now) {
    sum_ -= takes_.front().amount;
    takes_.pop_front();
  }
  if (takes_.empty()) sum_ = 0;
}

bool RollingWindow::fits(double amount) const {
  if (amount > limit_) return takes_.empty();  // oversized: alone in the window
  return sum_ + amount <= limit_ + kSlack;
}

double RollingWindow::used(Clock::time_point now) {
  forget_before(now);
  return sum_;
}

RollingWindow::Clock::time_point RollingWindow::when_fits(double amount, Clock::time_point now) {
  forget_before(now);
  if (fits(amount)) return now;
  const Clock::time_point empty_at = takes_.back().at + length_;
  if (amount > limit_) return empty_at;
  // Walk through the takes in the order they leave the window, until enough room is free.
  double left = sum_;
  for (const Take& take : takes_) {
    left -= take.amount;
    if (left + amount <= limit_ + kSlack) return take.at + length_;
  }
  return empty_at;
}

void RollingWindow::add(double amount, Clock::time_point now) {
  forget_before(now);
  if (amount <= 0) return;
  takes_.push_back(Take{std::max(now, takes_.empty() ? now : takes_.back().at), amount});
  sum_ += amount;
}

}  // namespace flowbatch

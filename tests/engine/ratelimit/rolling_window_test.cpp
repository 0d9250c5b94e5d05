#include <doctest/doctest.h>

#include "engine/ratelimit/rolling_window.h"

using namespace flowbatch;
using namespace std::chrono_literals;
using Clock = RollingWindow::Clock;

TEST_CASE("a rolling window counts what was taken in the last `length`, wherever it starts") {
  const auto t0 = Clock::now();
  RollingWindow w(5, 10s);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(w.when_fits(1, t0 + i * 1s) == t0 + i * 1s);
    w.add(1, t0 + i * 1s);
  }
  CHECK(w.used(t0 + 4s) == 5);
  CHECK(w.when_fits(1, t0 + 4s) == t0 + 10s);  // when the take at t0 leaves the window
  CHECK(w.when_fits(3, t0 + 4s) == t0 + 12s);  // three must leave
  CHECK(w.used(t0 + 10s) == 4);                // (t0, t0 + 10 s]: the first has left
  CHECK(w.when_fits(1, t0 + 10s) == t0 + 10s);
}

TEST_CASE("a take larger than a window's limit goes when the window is empty") {
  const auto t0 = Clock::now();
  RollingWindow w(100, 60s);
  w.add(30, t0);
  w.add(30, t0 + 1s);
  CHECK(w.when_fits(40, t0 + 2s) == t0 + 2s);
  CHECK(w.when_fits(500, t0 + 2s) == t0 + 61s);
  CHECK(w.when_fits(500, t0 + 61s) == t0 + 61s);
  w.add(500, t0 + 61s);  // alone in the window: the next waits until it has left
  CHECK(w.when_fits(1, t0 + 62s) == t0 + 121s);
}

TEST_CASE("lowering a window's limit holds back takes until enough have left") {
  const auto t0 = Clock::now();
  RollingWindow w(10, 60s);
  for (int i = 0; i < 10; ++i) w.add(1, t0 + i * 1s);
  w.set_limit(5);
  CHECK(w.when_fits(1, t0 + 10s) == t0 + 65s);  // 10 in the window: six must leave
}

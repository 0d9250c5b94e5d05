#include <doctest/doctest.h>

#include "engine/core/backoff.h"

using namespace flowbatch;
using std::chrono::milliseconds;

TEST_CASE("back-off grows exponentially and is capped") {
  Backoff b{milliseconds(200), milliseconds(10000), 2.0, Jitter::none};
  std::mt19937_64 rng(1);
  CHECK(b.delay(1, rng) == milliseconds(200));
  CHECK(b.delay(2, rng) == milliseconds(400));
  CHECK(b.delay(4, rng) == milliseconds(1600));
  CHECK(b.delay(10, rng) == milliseconds(10000));
  CHECK(b.delay(500, rng) == milliseconds(10000));  // no overflow for absurd attempt counts
}

TEST_CASE("jitter stays within its bounds") {
  std::mt19937_64 rng(42);
  Backoff full{milliseconds(1000), milliseconds(8000), 2.0, Jitter::full};
  Backoff equal{milliseconds(1000), milliseconds(8000), 2.0, Jitter::equal};
  bool full_low = false, full_high = false;
  for (int i = 0; i < 2000; ++i) {
    const auto f = full.delay(3, rng).count();
    CHECK(f >= 0);
    CHECK(f <= 4000);
    full_low = full_low || f < 1000;
    full_high = full_high || f > 3000;
    const auto e = equal.delay(3, rng).count();
    CHECK(e >= 2000);
    CHECK(e <= 4000);
  }
  CHECK(full_low);  // full jitter really spreads over the whole range
  CHECK(full_high);
}

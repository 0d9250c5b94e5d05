#include <doctest/doctest.h>

#include "engine/ratelimit/token_bucket.h"

using namespace flowbatch;
using namespace std::chrono_literals;
using Clock = TokenBucket::Clock;

TEST_CASE("a bucket holds one second of budget and starts empty, not with a whole minute") {
  const auto t0 = Clock::now();
  TokenBucket b(600, t0);  // 10 per second
  CHECK(b.capacity() == doctest::Approx(10));
  CHECK(!b.try_take(1, t0));  // a run ramps up at the rate: no burst at the start
  CHECK(b.when_available(1, t0) == t0 + 100ms);
  const auto t1 = t0 + 5s;  // idle long enough to fill it
  int taken = 0;
  while (b.try_take(1, t1)) ++taken;
  CHECK(taken == 10);  // not 600, nor 50
  CHECK(!b.try_take(1, t1 + 50ms));
  CHECK(b.try_take(1, t1 + 100ms));  // refills continuously: one every 100 ms
  CHECK(b.when_available(1, t1 + 100ms) == t1 + 200ms);
}

TEST_CASE("over a minute from the start, a bucket lets through its rate and no more") {
  const auto t0 = Clock::now();
  TokenBucket b(3000, t0);
  int taken = 0;
  for (auto t = t0; t <= t0 + 60s; t += 1ms)
    while (b.try_take(1, t)) ++taken;
  CHECK(taken == 3000);  // starting empty: nothing on top of the first minute's rate
}

TEST_CASE("a take larger than the bucket goes when the bucket is full, into debt") {
  const auto t0 = Clock::now();
  TokenBucket tokens(6000, t0 - 1s);  // 100 tokens per second, capacity 100: full at t0
  CHECK(tokens.try_take(30, t0));
  CHECK(!tokens.try_take(500, t0));                     // not full: wait
  CHECK(tokens.when_available(500, t0) == t0 + 300ms);  // until full, not until 500 are there
  CHECK(tokens.try_take(500, t0 + 300ms));              // full: it goes, leaving a debt of 400
  CHECK(tokens.level(t0 + 300ms) == doctest::Approx(-400));
  CHECK(!tokens.try_take(1, t0 + 4s));  // the debt is paid back first (4 s from t0 + 300 ms)
  CHECK(tokens.try_take(1, t0 + 4310ms));
}

TEST_CASE("the server's remaining caps the level, and a learned limit changes the rate") {
  const auto t0 = Clock::now();
  TokenBucket b(6000, t0 - 1s);  // full at t0
  CHECK(b.try_take(20, t0));
  CHECK(b.level(t0) == doctest::Approx(80));
  b.take(30, t0);  // whatever the level
  CHECK(b.level(t0) == doctest::Approx(50));
  b.cap_level(5, t0);
  CHECK(b.level(t0) == doctest::Approx(5));
  b.cap_level(50, t0);  // only ever lowers
  CHECK(b.level(t0) == doctest::Approx(5));
  b.set_per_minute(600, t0);  // a lower limit learned from the server
  CHECK(b.capacity() == doctest::Approx(10));
  CHECK(b.per_minute() == doctest::Approx(600));
}

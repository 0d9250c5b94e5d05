#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "engine/ratelimit/minute_limit.h"

using namespace flowbatch;
using namespace std::chrono_literals;
using Clock = MinuteLimit::Clock;

namespace {

/// A client with always more to send: takes `amount` whenever the limit allows, for `length`
/// from `from`, every millisecond. The times of its takes.
std::vector<Clock::time_point> take_greedily(MinuteLimit& limit, Clock::time_point from, Clock::duration length,
                                             double amount = 1, double used = -1) {
  std::vector<Clock::time_point> taken;
  for (auto t = from; t < from + length; t += 1ms)
    while (limit.when_available(amount, t) <= t) {
      limit.take(amount, t);
      if (used >= 0) limit.charge_excess(amount, used, t);
      taken.push_back(t);
    }
  return taken;
}

/// The most takes within any 60 s, (t - 60 s, t], as a server counting the last minute sees them.
std::size_t most_in_any_minute(const std::vector<Clock::time_point>& taken) {
  std::size_t most = 0;
  std::size_t first = 0;
  for (std::size_t last = 0; last < taken.size(); ++last) {
    while (taken[first] + 60s <= taken[last]) ++first;
    most = std::max(most, last - first + 1);
  }
  return most;
}

}  // namespace

TEST_CASE("configured at a server's limit, no rolling minute holds more, and 97% of it is used") {
  const auto t0 = Clock::now();
  MinuteLimit limit(3000, t0);
  const auto taken = take_greedily(limit, t0, 180s);
  REQUIRE(!taken.empty());
  CHECK(most_in_any_minute(taken) <= 3000);
  CHECK(most_in_any_minute(taken) >= 2910);  // 97%
  CHECK(taken.size() >= 3 * 2910);
  // The first minute too: the run ramps up at the rate instead of a second's burst on top of it.
  const auto first_minute = std::count_if(taken.begin(), taken.end(), [&](auto t) { return t < t0 + 60s; });
  CHECK(first_minute <= 3000);
  CHECK(first_minute >= 2910);
}

TEST_CASE("a limit starts empty: the first take waits one interval of the pace") {
  const auto t0 = Clock::now();
  MinuteLimit limit(600, t0);  // 9.9 a second aimed at
  CHECK(limit.when_available(1, t0) > t0 + 100ms);
  CHECK(limit.when_available(1, t0) < t0 + 102ms);
  CHECK(limit.per_minute() == doctest::Approx(600));  // reported as the limit itself
}

TEST_CASE("after an idle spell a second's worth may go at once, but no rolling minute passes the limit") {
  const auto t0 = Clock::now();
  MinuteLimit limit(3000, t0);
  // Idle for 5 s: the pacing bucket fills with a second's worth, 49.5 requests.
  const auto taken = take_greedily(limit, t0 + 5s, 120s);
  REQUIRE(taken.size() >= 49);
  CHECK(std::count(taken.begin(), taken.end(), t0 + 5s) == 49);
  // The bucket alone would let 49 + 2,970 through in the first 60 s of this; the window keeps it at 99%.
  CHECK(most_in_any_minute(taken) <= 2970);
  CHECK(most_in_any_minute(taken) >= 2910);
}

TEST_CASE("tokens are counted as charged at the start, and an answer that used more is charged the rest") {
  const auto t0 = Clock::now();
  MinuteLimit charged(6000, t0);  // tokens a minute
  MinuteLimit underestimated(6000, t0);
  // Each request is charged 50. Using only 10 gives nothing back (the server counted 50 when it
  // arrived); using 100 charges 50 more.
  const auto lighter = take_greedily(charged, t0, 120s, 50, 10);
  const auto heavier = take_greedily(underestimated, t0, 120s, 50, 100);
  REQUIRE(!lighter.empty());
  REQUIRE(!heavier.empty());
  CHECK(most_in_any_minute(lighter) * 50 <= 6000);
  CHECK(most_in_any_minute(lighter) * 50 >= 5800);
  CHECK(most_in_any_minute(heavier) * 100 <= 6000 + 100);  // the last one's excess is known only after it
  CHECK(most_in_any_minute(heavier) * 100 >= 5800);
}

TEST_CASE("a request larger than the whole minute's limit goes when the minute is empty, not never") {
  const auto t0 = Clock::now();
  MinuteLimit tokens(6000, t0);
  tokens.take(100, t0 + 2s);
  CHECK(tokens.when_available(10000, t0 + 3s) == t0 + 62s);
  tokens.take(10000, t0 + 62s);
  CHECK(tokens.when_available(1, t0 + 63s) >= t0 + 122s);  // alone in its minute, and its debt paid
}

TEST_CASE("a lower announced limit holds back until the minute allows it, a guessed rate only slows the pace") {
  const auto t0 = Clock::now();
  MinuteLimit announced(6000, t0);
  MinuteLimit guessed(6000, t0);
  REQUIRE(take_greedily(announced, t0, 60s).size() >= 5900);
  REQUIRE(take_greedily(guessed, t0, 60s).size() >= 5900);
  announced.set_per_minute(3000, t0 + 60s);
  guessed.set_guess(3000, t0 + 60s);
  CHECK(guessed.per_minute() == doctest::Approx(3000));
  // Half of the last minute's takes must leave the window first: about 30 s.
  CHECK(announced.when_available(1, t0 + 60s) > t0 + 89s);
  // A guess is not a known limit: the pace changes, the minute's cap stays at 6,000.
  CHECK(guessed.when_available(1, t0 + 60s) < t0 + 61s);
}

TEST_CASE("a guessed rate with no known limit is paced, never capped") {
  const auto t0 = Clock::now();
  MinuteLimit guessed = MinuteLimit::guessed(600, t0);
  REQUIRE(take_greedily(guessed, t0, 60s).size() >= 590);
  guessed.set_guess(1200, t0 + 60s);  // raised after a quiet spell
  CHECK(guessed.when_available(1, t0 + 61s) <= t0 + 61s);
  CHECK(take_greedily(guessed, t0 + 60s, 60s).size() >= 1180);
}

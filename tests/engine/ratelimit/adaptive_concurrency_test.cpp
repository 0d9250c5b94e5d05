#include <doctest/doctest.h>

#include "engine/ratelimit/adaptive_concurrency.h"

using namespace flowbatch;
using namespace std::chrono_literals;
using Clock = AdaptiveConcurrency::Clock;

namespace {
/// Drives `windows` observation windows of `per_window` requests, each with round trip `rtt`
/// (a function of the limit: the server's behaviour), keeping the limit busy.
template <class Rtt>
void drive(AdaptiveConcurrency& arc, Clock::time_point& t, int windows, Rtt rtt, bool back_pressure = false) {
  for (int w = 0; w < windows; ++w) {
    const auto r = rtt(arc.limit());
    arc.on_start(arc.limit());
    for (int i = 0; i < 5; ++i) arc.on_end(r, back_pressure, t);
    t += std::max<Clock::duration>(r, 50ms);
    arc.on_end(r, back_pressure, t);
  }
}
}  // namespace

TEST_CASE("with flat latency, slow start doubles the limit up to its ceiling") {
  auto t = Clock::now();
  AdaptiveConcurrency arc(4, 512, t);
  drive(arc, t, 12, [](std::size_t) { return 200ms; });
  CHECK(arc.limit() == 512);
}

TEST_CASE("back pressure cuts the limit by a tenth, then it grows by one") {
  auto t = Clock::now();
  AdaptiveConcurrency arc(100, 512, t);
  drive(
      arc, t, 1, [](std::size_t) { return 100ms; }, true);
  CHECK(arc.limit() == 90);
  drive(arc, t, 3, [](std::size_t) { return 100ms; });
  CHECK(arc.limit() == 93);  // additive now: the slow start is over
}

TEST_CASE("rising latency (a queueing server) settles the limit near the server's capacity") {
  auto t = Clock::now();
  AdaptiveConcurrency arc(2, 1000, t);
  // Up to 64 requests the server answers in 100 ms; beyond, requests queue and wait longer.
  auto server = [](std::size_t limit) {
    const double ms = limit <= 64 ? 100.0 : 100.0 * static_cast<double>(limit) / 64.0;
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
  };
  drive(arc, t, 400, server);
  CHECK(arc.limit() >= 48);
  CHECK(arc.limit() <= 90);
}

TEST_CASE("the limit never drops below one") {
  auto t = Clock::now();
  AdaptiveConcurrency arc(3, 10, t);
  drive(
      arc, t, 30, [](std::size_t) { return 10ms; }, true);
  CHECK(arc.limit() == 1);
}

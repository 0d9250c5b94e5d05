#include "engine/cost/budget.h"

#include <doctest/doctest.h>

#include <random>

using namespace flowbatch;

TEST_CASE("a reservation that would pass the cap is refused, and nothing is held for it") {
  Budget b(CostLimits{.cap = 100, .warn = 0, .spent_before = 30});
  CHECK(b.capped());
  CHECK(b.spent() == 30);  // earlier runs of the state count
  CHECK(b.reserve(50));
  CHECK_FALSE(b.reserve(21));  // 30 + 50 + 21 > 100
  CHECK(b.reserved() == 50);
  CHECK(b.reserve(20));  // exactly at the cap is allowed
  b.settle(50, 10);      // the first cost less than its worst case: room again
  CHECK(b.spent() == 40);
  CHECK(b.reserved() == 20);
  CHECK(b.reserve(40));
}

TEST_CASE("whatever requests really cost, below their worst case, spending never passes the cap") {
  const NanoUsd cap = 1'000'000;
  Budget b(CostLimits{.cap = cap, .warn = 0, .spent_before = 0});
  std::mt19937_64 rng(7);
  std::vector<std::pair<NanoUsd, NanoUsd>> in_flight;  // reserved, actual
  int refused = 0;
  for (int i = 0; i < 10'000; ++i) {
    const NanoUsd worst = 1000 + static_cast<NanoUsd>(rng() % 9000);
    if (b.reserve(worst))
      in_flight.emplace_back(worst, static_cast<NanoUsd>(rng() % static_cast<std::uint64_t>(worst + 1)));
    else ++refused;
    if (!in_flight.empty() && rng() % 2) {  // answers come back in any order
      const std::size_t k = rng() % in_flight.size();
      b.settle(in_flight[k].first, in_flight[k].second);
      in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(k));
    }
    CHECK(b.spent() + b.reserved() <= cap);
  }
  for (auto [worst, actual] : in_flight) b.settle(worst, actual);
  CHECK(b.spent() <= cap);
  CHECK(refused > 0);
}

TEST_CASE("without a cap every reservation goes through, and the warning is given once") {
  Budget b(CostLimits{.cap = 0, .warn = 100, .spent_before = 0});
  CHECK_FALSE(b.capped());
  CHECK(b.reserve(1'000'000'000));
  b.settle(1'000'000'000, 60);
  CHECK_FALSE(b.take_warning());
  b.spend(50);
  CHECK(b.take_warning());
  b.spend(50);
  CHECK_FALSE(b.take_warning());
}

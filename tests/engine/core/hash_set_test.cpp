#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/core/hash_set.h"

using namespace flowbatch;

TEST_CASE("ConcurrentHashSet: each hash is new once, whichever thread inserts it, across growth") {
  ConcurrentHashSet set;
  std::atomic<int> fresh{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (std::uint64_t i = 1; i <= 50000; ++i)  // every thread inserts the same 50,000 hashes
        if (set.insert(i * 0x9E3779B97F4A7C15ull)) ++fresh;
    });
  for (auto& t : threads) t.join();
  CHECK(fresh.load() == 50000);
  CHECK(set.size() == 50000);
  CHECK(!set.insert(7 * 0x9E3779B97F4A7C15ull));
  CHECK(set.insert(0));  // 0 is a hash like any other
  CHECK(!set.insert(0));
}

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/runtime/admission.h"

using namespace flowbatch;

TEST_CASE("chunk size and threshold follow max_in_flight") {
  CHECK(Admission(10000).chunk_size() == 256);
  CHECK(Admission(10000).threshold() == 38);  // + the chunk waiting at the gate: 39 x 256 <= 10000
  CHECK(Admission(500).chunk_size() == 31);
  CHECK(Admission(5).chunk_size() == 1);
  CHECK(Admission(5).threshold() == 4);
  CHECK(Admission(1).threshold() == 1);
}

TEST_CASE("released items open whole chunks, exactly, whatever the interleaving") {
  Admission a(1000);  // chunks of 62
  std::atomic<long> opened{0};
  a.set_opener([&](long n) { opened += n; });
  a.release(61);
  CHECK(opened == 0);
  a.release(1);
  CHECK(opened == 1);
  a.release(62 * 3 + 10);
  CHECK(opened == 4);
  a.short_chunk(50);  // a last chunk of 50 items is credited its 12 missing slots
  CHECK(opened == 4);
  a.release(40);  // 10 + 12 + 40 = 62
  CHECK(opened == 5);

  Admission b(1000);
  std::atomic<long> total{0};
  b.set_opener([&](long n) { total += n; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 62 * 250; ++i) b.release(1);
    });
  for (auto& t : threads) t.join();
  CHECK(total == 1000);
}

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "engine/io/event_loop.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace std::chrono_literals;
using flowbatch::test::eventually;

TEST_CASE("timers fire in deadline order on the loop thread") {
  EventLoop loop;
  loop.start();
  std::mutex m;
  std::vector<int> order;
  std::atomic<int> on_loop{0};
  const auto now = EventLoop::Clock::now();
  for (int i : {3, 1, 2}) {
    loop.at(now + std::chrono::milliseconds(10 * i), [&, i] {
      if (loop.on_loop_thread()) on_loop.fetch_add(1);
      std::lock_guard lock(m);
      order.push_back(i);
    });
  }
  REQUIRE(eventually([&] {
    std::lock_guard lock(m);
    return order.size() == 3;
  }));
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(on_loop == 3);
  loop.stop();
}

TEST_CASE("a timer does not fire early") {
  EventLoop loop;
  loop.start();
  std::atomic<bool> fired{false};
  const auto start = EventLoop::Clock::now();
  std::atomic<long long> elapsed_ms{0};
  loop.after(50ms, [&] {
    elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(EventLoop::Clock::now() - start).count();
    fired = true;
  });
  REQUIRE(eventually([&] { return fired.load(); }));
  CHECK(elapsed_ms >= 50);
  loop.stop();
}

TEST_CASE("cancelling runs on_cancel for pending timers and for timers scheduled later") {
  EventLoop loop;
  loop.start();
  std::atomic<int> fired{0}, cancelled{0};
  for (int i = 0; i < 10; ++i)
    loop.after(
        10s, [&] { ++fired; }, [&] { ++cancelled; });
  loop.cancel_timers();
  loop.after(
      1ms, [&] { ++fired; }, [&] { ++cancelled; });
  REQUIRE(eventually([&] { return cancelled.load() == 11; }));
  CHECK(fired == 0);
  loop.stop();
}

TEST_CASE("stopping the loop cancels what is still pending, so nobody waits forever") {
  std::atomic<int> cancelled{0};
  {
    EventLoop loop;
    loop.start();
    loop.after(
        1h, [] {}, [&] { ++cancelled; });
    loop.stop();
  }
  CHECK(cancelled == 1);
}

TEST_CASE("many threads may post at once") {
  EventLoop loop;
  loop.start();
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) loop.post([&] { ++ran; });
    });
  for (auto& t : threads) t.join();
  REQUIRE(eventually([&] { return ran.load() == 4000; }));
  loop.stop();
}

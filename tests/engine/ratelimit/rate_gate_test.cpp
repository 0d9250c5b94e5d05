// The rate gate's promise to the run: every request it was given is answered, go or no-go, even
// when the run stops at once while requests wait (a hard stop cancels the loop's timers and posts).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "engine/core/console.h"
#include "engine/core/redactor.h"
#include "engine/io/event_loop.h"
#include "engine/ratelimit/local_rate_gate.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace std::chrono_literals;
using flowbatch::test::eventually;

namespace {

/// Counts a gate's answers.
struct Answers {
  std::atomic<int> go{0};
  std::atomic<int> no_go{0};
  RateGate::Start start() {
    return [this](bool go_now, std::uint64_t) { (go_now ? go : no_go).fetch_add(1); };
  }
  int total() const { return go.load() + no_go.load(); }
};

struct GateFixture {
  Redactor redactor;
  std::FILE* log = std::tmpfile();
  Console console{redactor, log};
  EventLoop loop;
  RateSettings settings;
  std::unique_ptr<LocalRateGate> gate;

  explicit GateFixture(std::size_t concurrency) {
    settings.concurrency_limit = concurrency;
    gate = std::make_unique<LocalRateGate>(settings, loop, Logger(console, "gate"));
    loop.start();
  }
  ~GateFixture() {
    loop.stop();
    gate.reset();
    std::fclose(log);
  }
};

}  // namespace

TEST_CASE("a hard stop during a 429 cool-down tells every waiting request it will not go") {
  GateFixture f(4);
  Answers first;
  f.gate->request(1, first.start());
  REQUIRE(eventually([&] { return first.go.load() == 1; }));
  AttemptFeedback refused;
  refused.rate_limited = true;
  refused.back_pressure = true;
  refused.signals.retry_after = std::chrono::milliseconds(60000);  // a minute's pause
  f.gate->finished(refused);
  Answers waiting;
  for (int i = 0; i < 5; ++i) f.gate->request(1, waiting.start());
  std::this_thread::sleep_for(50ms);
  REQUIRE(waiting.total() == 0);  // held by the cool-down
  f.loop.cancel_timers();         // what a hard stop does
  CHECK(eventually([&] { return waiting.no_go.load() == 5; }, 2000ms));
  CHECK(waiting.go.load() == 0);
}

TEST_CASE("a hard stop while requests wait for a free slot tells them they will not go") {
  GateFixture f(1);
  Answers running;
  f.gate->request(1, running.start());
  REQUIRE(eventually([&] { return running.go.load() == 1; }));
  Answers waiting;
  for (int i = 0; i < 3; ++i) f.gate->request(1, waiting.start());
  std::this_thread::sleep_for(50ms);
  REQUIRE(waiting.total() == 0);  // the one slot is taken
  f.loop.cancel_timers();
  f.gate->cancelled();  // the running request comes back abandoned, after the stop
  CHECK(eventually([&] { return waiting.no_go.load() == 3; }, 2000ms));
  CHECK(waiting.go.load() == 0);
  Answers later;  // and one asked for after the stop
  f.gate->request(1, later.start());
  CHECK(eventually([&] { return later.no_go.load() == 1; }, 2000ms));
}

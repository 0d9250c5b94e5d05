// The shared gate as the provider lane sees it: two gates on one limit (two processes' view of it)
// never have more in flight than the shared concurrency, and every request is answered; a store
// that cannot be reached stops the run instead of hanging it.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "engine/core/console.h"
#include "engine/core/redactor.h"
#include "engine/io/event_loop.h"
#include "engine/ratelimit/shared_rate_gate.h"
#include "tests/support/fixtures.h"
#include "tests/support/nginx.h"

using namespace flowbatch;
using namespace flowbatch::test;
using namespace std::chrono_literals;

namespace {

struct SharedGates {
  Redactor redactor;
  std::FILE* log = std::tmpfile();
  Console console{redactor, log};
  EventLoop loop;
  std::mutex mutex;
  std::string gave_up;  // guarded by mutex
  std::vector<std::unique_ptr<RateGate>> gates;

  explicit SharedGates(const RateSettings& settings, int count) {
    for (int i = 0; i < count; ++i)
      gates.push_back(make_rate_gate(settings, loop, Logger(console, "gate"), [this](const std::string& why) {
        std::lock_guard lock(mutex);
        gave_up = why;
      }));
    loop.start();
  }
  ~SharedGates() {
    loop.stop();
    gates.clear();
    std::fclose(log);
  }
};

/// Every request holds its slot for a few milliseconds; the most in flight at once is kept.
struct Traffic {
  std::atomic<int> in_flight{0};
  std::atomic<int> most{0};
  std::atomic<int> started{0};
  std::atomic<int> refused{0};

  void send(EventLoop& loop, RateGate& gate) {
    gate.request(10, [this, &loop, &gate](bool go, std::uint64_t ticket) {
      if (!go) return void(refused.fetch_add(1));
      started.fetch_add(1);
      const int now = in_flight.fetch_add(1) + 1;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {}
      loop.after(5ms, [this, &gate, ticket] {
        in_flight.fetch_sub(1);
        AttemptFeedback done;
        done.ticket = ticket;
        gate.finished(done);
      });
    });
  }
};

}  // namespace

TEST_CASE("two gates sharing a local limit never have more in flight than its concurrency") {
  TempDir dir;
  ::setenv("XDG_RUNTIME_DIR", dir.path().c_str(), 1);
  RateSettings settings;
  settings.concurrency_limit = 3;  // each gate's own, and the two together
  settings.requests_per_minute = 60000;
  settings.shared.store = SharedLimitSettings::Store::local;
  settings.shared.key = fmt::format("gates-{}", ::getpid());
  SharedGates gates(settings, 2);
  Traffic traffic;
  for (int i = 0; i < 40; ++i) traffic.send(gates.loop, *gates.gates[static_cast<std::size_t>(i % 2)]);
  CHECK(eventually([&] { return traffic.started.load() == 40 && traffic.in_flight.load() == 0; }, 30s));
  CHECK(traffic.most.load() <= 3);
  CHECK(traffic.most.load() >= 2);  // both gates had some
  CHECK(traffic.refused.load() == 0);
}

TEST_CASE("a shared limit whose redis cannot be reached stops the run instead of waiting forever") {
  RateSettings settings;
  settings.requests_per_minute = 600;
  settings.shared.store = SharedLimitSettings::Store::redis;
  settings.shared.redis.host = "127.0.0.1";
  settings.shared.redis.port = free_port();
  settings.shared.redis.password = "s3cret-password";
  settings.shared.key = "nobody";
  SharedGates gates(settings, 1);
  Traffic traffic;
  for (int i = 0; i < 3; ++i) traffic.send(gates.loop, *gates.gates[0]);
  CHECK(eventually([&] { return traffic.refused.load() == 3; }, 30s));
  CHECK(traffic.started.load() == 0);
  std::lock_guard lock(gates.mutex);
  CHECK(gates.gave_up.find("the shared limit cannot be reached") != std::string::npos);
  CHECK(gates.gave_up.find(fmt::format("127.0.0.1:{}", settings.shared.redis.port)) != std::string::npos);
  CHECK(gates.gave_up.find("s3cret") == std::string::npos);
}

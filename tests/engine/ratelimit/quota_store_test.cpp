// The shared limit's store semantics (quota_store.h), the same checks on both stores: the Lua
// script in a real redis-server, and the file of `local:NAME` (two stores on one file here are
// two processes' views of it). Killed holders: a forked child killed with SIGKILL.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <functional>
#include <future>
#include <thread>

#include "engine/ratelimit/file_quota_store.h"
#include "engine/ratelimit/redis_quota_store.h"
#include "tests/support/fixtures.h"
#include "tests/support/redis.h"

using namespace flowbatch;
using namespace flowbatch::test;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kSecond = 1'000'000;  // µs

/// Two holders' stores on one shared limit, and the loop their steps run on.
struct SharedStores {
  EventLoop loop;
  std::unique_ptr<QuotaStore> first;
  std::unique_ptr<QuotaStore> second;

  SharedStores() { loop.start(); }
  ~SharedStores() { loop.stop(); }  // before the stores go: their connections live on the loop

  QuotaGrant step(QuotaStore& store, QuotaAsk ask) {
    std::promise<QuotaGrant> answer;
    loop.post([&] {
      store.take(ask, [&](const QuotaGrant* grant, const std::string& error) {
        if (grant) answer.set_value(*grant);
        else answer.set_exception(std::make_exception_ptr(std::runtime_error(error)));
      });
    });
    auto future = answer.get_future();
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    return future.get();
  }
};

QuotaAsk ask_of(const char* holder) {
  QuotaAsk ask;
  ask.holder = holder;
  ask.lease_us = 60 * kSecond;
  return ask;
}

QuotaAsk ask_requests(const char* holder, std::int64_t n, std::int64_t interval_us) {
  QuotaAsk ask = ask_of(holder);
  ask.requests = n;
  ask.request_interval_us = static_cast<double>(interval_us);
  return ask;
}

QuotaAsk ask_slots(const char* holder, std::int64_t wanted, std::int64_t concurrency, std::int64_t returned = 0) {
  QuotaAsk ask = ask_of(holder);
  ask.slots = wanted;
  ask.returned_slots = returned;
  ask.concurrency = concurrency;
  return ask;
}

void holders_take_turns_on_one_timeline(SharedStores& s) {
  // One request a second: a takes the next 2 slots, b the 2 after them, a the 2 after those.
  const QuotaGrant a1 = s.step(*s.first, ask_requests("a", 2, kSecond));
  const QuotaGrant b = s.step(*s.second, ask_requests("b", 2, kSecond));
  const QuotaGrant a2 = s.step(*s.first, ask_requests("a", 2, kSecond));
  CHECK(a1.requests_in_us <= kSecond / 10);
  CHECK(b.requests_in_us > 3 * kSecond / 2);  // 2 s, less the time the steps took
  CHECK(b.requests_in_us <= 2 * kSecond);
  CHECK(a2.requests_in_us > 7 * kSecond / 2);
  CHECK(a2.requests_in_us <= 4 * kSecond);
  // Another limit (no interval) reserves nothing.
  CHECK(s.step(*s.second, ask_requests("b", 5, 0)).requests_in_us == 0);
}

void extra_tokens_push_the_timeline(SharedStores& s) {
  QuotaAsk extra = ask_of("a");
  extra.extra_tokens = 1000;
  extra.token_interval_us = 1000;  // 1,000 tokens a second
  s.step(*s.first, extra);
  QuotaAsk next = ask_of("b");
  next.tokens = 10;
  next.token_interval_us = 1000;
  const QuotaGrant b = s.step(*s.second, next);
  CHECK(b.tokens_in_us > kSecond / 2);
  CHECK(b.tokens_in_us <= kSecond);
}

void slots_are_shared_fairly_and_come_back(SharedStores& s) {
  const QuotaGrant a = s.step(*s.first, ask_slots("a", 4, 4));
  CHECK(a.slots == 4);
  CHECK(a.fair_slots == 4);
  const QuotaGrant b = s.step(*s.second, ask_slots("b", 2, 4));
  CHECK(b.slots == 0);  // all four are a's
  CHECK(b.fair_slots == 2);
  const QuotaGrant returned = s.step(*s.first, ask_slots("a", 0, 4, 2));
  CHECK(returned.slots == 0);
  const QuotaGrant b2 = s.step(*s.second, ask_slots("b", 4, 4));
  CHECK(b2.slots == 2);  // its fair share, all that is free
  CHECK(s.step(*s.first, ask_slots("a", 1, 4)).slots == 0);
}

void a_pause_holds_everyone(SharedStores& s) {
  QuotaAsk pause = ask_of("a");
  pause.pause_us = 2 * kSecond;
  CHECK(s.step(*s.first, pause).paused_for_us > kSecond);
  const QuotaGrant b = s.step(*s.second, ask_requests("b", 1, kSecond / 100));
  CHECK(b.paused_for_us > kSecond);
  CHECK(b.requests_in_us > kSecond);  // its slot is after the pause
}

void a_silent_holder_gives_its_slots_back_after_its_lease(SharedStores& s) {
  QuotaAsk a = ask_slots("a", 3, 3);
  a.lease_us = kSecond / 5;
  CHECK(s.step(*s.first, a).slots == 3);
  CHECK(s.step(*s.second, ask_slots("b", 3, 3)).slots == 0);
  std::this_thread::sleep_for(600ms);
  CHECK(s.step(*s.second, ask_slots("b", 3, 3)).slots == 3);
}

RedisAddress address_of(const RedisProcess& redis) {
  std::string why;
  auto address = parse_redis_url(redis.url(), why);
  REQUIRE(address);
  return *address;
}

/// Two stores on one limit in one Redis (two connections, as two workers have).
struct RedisStores : SharedStores {
  TempDir dir;
  RedisProcess redis{dir};
  explicit RedisStores(const std::string& key = "test") {
    first = std::make_unique<RedisQuotaStore>(loop, address_of(redis), 5000ms, key);
    second = std::make_unique<RedisQuotaStore>(loop, address_of(redis), 5000ms, key);
  }
};

/// Two stores on one `local:` file, in a runtime folder of the test's own.
struct FileStores : SharedStores {
  TempDir dir;
  std::string name = fmt::format("test-{}", ::getpid());
  FileStores() {
    ::setenv("XDG_RUNTIME_DIR", dir.path().c_str(), 1);
    first = std::make_unique<FileQuotaStore>(name);
    second = std::make_unique<FileQuotaStore>(name);
  }
};

/// A child process that takes slots (`hold`), says so, and waits to be killed.
class HoldingChild {
 public:
  explicit HoldingChild(const std::function<void()>& hold) {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      hold();
      [[maybe_unused]] const auto n = ::write(ready[1], "x", 1);
      ::pause();
      ::_exit(0);
    }
    char byte = 0;
    const auto n = ::read(ready[0], &byte, 1);
    ::close(ready[0]);
    ::close(ready[1]);
    REQUIRE(n == 1);
  }
  /// kill -9; its exit code.
  int kill_now() {
    ::kill(pid_, SIGKILL);
    return wait_exit(pid_);
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("shared limit in redis: holders take turns on one timeline") {
  REQUIRE_REDIS_OR_SKIP();
  RedisStores s;
  holders_take_turns_on_one_timeline(s);
}

TEST_CASE("shared limit in redis: tokens used beyond the reservation push the timeline") {
  REQUIRE_REDIS_OR_SKIP();
  RedisStores s;
  extra_tokens_push_the_timeline(s);
}

TEST_CASE("shared limit in redis: slots up to the limit, a fair share each, given back") {
  REQUIRE_REDIS_OR_SKIP();
  RedisStores s;
  slots_are_shared_fairly_and_come_back(s);
}

TEST_CASE("shared limit in redis: a pause one holder sets holds the others") {
  REQUIRE_REDIS_OR_SKIP();
  RedisStores s;
  a_pause_holds_everyone(s);
}

TEST_CASE("shared limit in redis: a holder not heard from gives its slots back after its lease") {
  REQUIRE_REDIS_OR_SKIP();
  RedisStores s;
  a_silent_holder_gives_its_slots_back_after_its_lease(s);
}

TEST_CASE("shared limit in redis: the script is loaded again after the server forgot it") {
  REQUIRE_REDIS_OR_SKIP();
  RedisStores s;
  CHECK(s.step(*s.first, ask_requests("a", 1, kSecond)).requests_in_us <= kSecond / 10);
  s.redis.command({"SCRIPT", "FLUSH"});
  CHECK(s.step(*s.first, ask_requests("a", 1, kSecond)).requests_in_us > kSecond / 2);  // EVALSHA, NOSCRIPT, EVAL
  CHECK(s.step(*s.first, ask_requests("a", 1, kSecond)).requests_in_us > 3 * kSecond / 2);
}

TEST_CASE("shared limit in redis: a worker killed with SIGKILL gets its slots back when its lease ends") {
  REQUIRE_REDIS_OR_SKIP();
  RedisStores s;
  HoldingChild child([&] {  // takes every slot through the same script
    RedisConnection connection(address_of(s.redis), 5000ms);
    connection.command({"EVAL", RedisQuotaStore::script(), "3", "flowbatch:limit:{test}",
                        "flowbatch:limit:{test}:slots", "flowbatch:limit:{test}:leases", "child", "0", "0", "4", "0",
                        "0", "0", "0", "0", "4", "500000"});
  });
  CHECK(s.step(*s.second, ask_slots("b", 4, 4)).slots == 0);
  CHECK(child.kill_now() == 128 + SIGKILL);
  CHECK(eventually([&] { return s.step(*s.second, ask_slots("b", 4, 4)).slots > 0; }, 10s));
}

TEST_CASE("local shared limit: two limiters on one file take turns on one timeline") {
  FileStores s;
  holders_take_turns_on_one_timeline(s);
}

TEST_CASE("local shared limit: tokens used beyond the reservation push the timeline") {
  FileStores s;
  extra_tokens_push_the_timeline(s);
}

TEST_CASE("local shared limit: slots up to the limit, a fair share each, given back") {
  FileStores s;
  slots_are_shared_fairly_and_come_back(s);
}

TEST_CASE("local shared limit: a pause one limiter sets holds the other") {
  FileStores s;
  a_pause_holds_everyone(s);
}

TEST_CASE("local shared limit: a limiter not heard from gives its slots back after its lease") {
  FileStores s;
  a_silent_holder_gives_its_slots_back_after_its_lease(s);
}

TEST_CASE("local shared limit: a process killed with SIGKILL gives its slots back at once") {
  FileStores s;
  HoldingChild child([&] {  // takes every slot for a minute's lease
    FileQuotaStore store(s.name);
    store.take(ask_slots("child", 4, 4), [](const QuotaGrant*, const std::string&) {});
  });
  CHECK(s.step(*s.second, ask_slots("b", 4, 4)).slots == 0);
  CHECK(child.kill_now() == 128 + SIGKILL);
  CHECK(s.step(*s.second, ask_slots("b", 4, 4)).slots == 4);  // long before its lease: its process is gone
}

TEST_CASE("local shared limit: names that could leave the limits folder are refused") {
  CHECK(FileQuotaStore::valid_name("openai-org_1.main"));
  CHECK_FALSE(FileQuotaStore::valid_name(""));
  CHECK_FALSE(FileQuotaStore::valid_name("../x"));
  CHECK_FALSE(FileQuotaStore::valid_name("a/b"));
}

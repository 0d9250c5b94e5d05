// What the report keeps of failures and slow requests stays small whatever the run's length: a
// class's messages are told apart up to a bound (the rest counted together), a few ids each, and
// only the slowest requests are kept.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include "engine/runtime/failure_samples.h"

using namespace flowbatch;
using namespace std::chrono_literals;

TEST_CASE("a class's top messages come most frequent first, with a few example ids, the rest counted together") {
  FailureSamples samples;
  for (int i = 0; i < 50; ++i) samples.note(ErrorClass::server, "HTTP 500", fmt::format("a{}", i), false);
  for (int i = 0; i < 5; ++i) samples.note(ErrorClass::server, "HTTP 502", fmt::format("b{}", i), i == 4);
  for (int i = 0; i < 1000; ++i) samples.note(ErrorClass::server, fmt::format("odd message {}", i), "c", false);
  FailureSamples::Message rest;
  const auto top = samples.top(ErrorClass::server, 2, rest);
  REQUIRE(top.size() == 2);
  CHECK(top[0].text == "HTTP 500");
  CHECK(top[0].attempts == 50);
  CHECK(top[0].example_ids == std::vector<std::string>{"a0", "a1", "a2"});
  CHECK(top[1].text == "HTTP 502");
  CHECK(top[1].attempts == 4);
  CHECK(top[1].dead == 1);
  CHECK(rest.attempts == 1000);  // 30 kept apart but not shown, 970 never told apart
  CHECK(rest.example_ids == std::vector<std::string>{"c"});
  FailureSamples::Message none;
  CHECK(samples.top(ErrorClass::timeout, 5, none).empty());
  CHECK(none.attempts + none.dead == 0);
}

TEST_CASE("only the slowest requests are kept, slowest first") {
  SlowestRequests slowest;
  for (int i = 1; i <= 500; ++i)
    slowest.offer(std::chrono::milliseconds((i * 37) % 500 + 1), "call", fmt::format("i{}", i), 1, 1);
  slowest.offer(0ms, "call", "instant", 1, 1);
  const auto kept = slowest.entries();
  REQUIRE(kept.size() == SlowestRequests::kKept);
  CHECK(kept.front().latency_ms == doctest::Approx(500));
  CHECK(kept.back().latency_ms == doctest::Approx(491));
  for (std::size_t i = 1; i < kept.size(); ++i) CHECK(kept[i - 1].latency_ms >= kept[i].latency_ms);
  CHECK(kept.front().node == "call");
}

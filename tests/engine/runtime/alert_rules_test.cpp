// The evaluation of [alerts.NAME] rules, fed samples by hand on a clock of its own: each rule
// fires once when its value crosses the threshold and resolves once when it has been back (past
// the margin) for resolve_after; too few samples say nothing; a flapping value makes no storm.
#include <doctest/doctest.h>

#include "engine/runtime/alert_rules.h"

using namespace flowbatch;
using namespace std::chrono_literals;

namespace {

using Clock = AlertSample::Clock;
const Clock::time_point kStart{};

AlertRule rule_of(AlertKind kind, double threshold, std::chrono::milliseconds window = 10s) {
  AlertRule r;
  r.name = "alerts.test";
  r.kind = kind;
  r.threshold = threshold;
  r.window = window;
  r.baseline = 10s;
  r.min_samples = 10;
  r.resolve_after = 5s;
  return r;
}

/// Drives one rule: counters only grow; `advance` moves the clock and feeds the sample.
class Feed {
 public:
  explicit Feed(AlertRule rule) : rules_{std::move(rule)}, evaluator_(rules_, kStart) { sample_.at = kStart; }

  /// Records done in `seconds`, one tick a second, `failed_share` of them failed: events seen.
  std::vector<AlertEvent> records(int seconds, std::uint64_t per_second, double failed_share) {
    return each_second(seconds, [&] {
      const auto failed = static_cast<std::uint64_t>(static_cast<double>(per_second) * failed_share);
      sample_.records_failed += failed;
      sample_.records_ok += per_second - failed;
    });
  }
  std::vector<AlertEvent> requests(int seconds, std::uint64_t per_second, double limited_share) {
    return each_second(seconds, [&] {
      sample_.requests += per_second;
      sample_.rate_limited += static_cast<std::uint64_t>(static_cast<double>(per_second) * limited_share);
    });
  }
  /// Requests answered in about `ms` (bucket of that latency).
  std::vector<AlertEvent> latency(int seconds, std::uint64_t per_second, double ms) {
    std::size_t bucket = 0;
    while (LatencyHistogram::upper_ms(bucket) < ms) ++bucket;
    return each_second(seconds, [&] {
      sample_.latency[bucket] += per_second;
      sample_.requests += per_second;
    });
  }
  std::vector<AlertEvent> spend(int seconds, double usd_per_second) {
    return each_second(seconds, [&] { sample_.cost_nano += static_cast<std::int64_t>(usd_per_second * 1e9); });
  }
  std::vector<AlertEvent> idle(int seconds, bool idle) {
    return each_second(seconds, [&] { sample_.idle = idle; });
  }
  std::vector<AlertEvent> resolve_all() { return evaluator_.resolve_all(sample_, "the run ended"); }
  bool firing() const { return evaluator_.firing(0); }

 private:
  template <class F>
  std::vector<AlertEvent> each_second(int seconds, F change) {
    std::vector<AlertEvent> events;
    for (int i = 0; i < seconds; ++i) {
      sample_.at += 1s;
      change();
      for (auto& e : evaluator_.evaluate(sample_)) events.push_back(std::move(e));
    }
    return events;
  }

  std::vector<AlertRule> rules_;
  AlertEvaluator evaluator_;
  AlertSample sample_;
};

}  // namespace

TEST_CASE("a success rate below its threshold fires once and resolves once it has been back for resolve_after") {
  Feed feed(rule_of(AlertKind::success_rate, 0.95));
  CHECK(feed.records(20, 10, 0.0).empty());
  const auto fired = feed.records(10, 10, 0.5);  // half of them dead-lettered
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].firing);
  CHECK(fired[0].value < 0.95);
  CHECK(fired[0].threshold == doctest::Approx(0.95));
  CHECK(fired[0].unit == "share");
  CHECK(fired[0].summary.find("alerts.test firing: success rate") != std::string::npos);
  // Good again: the window still holds the failures for a while, then the hold of resolve_after.
  auto resolved = feed.records(12, 10, 0.0);
  CHECK(resolved.empty());
  CHECK(feed.firing());
  resolved = feed.records(10, 10, 0.0);
  REQUIRE(resolved.size() == 1);
  CHECK_FALSE(resolved[0].firing);
  CHECK(resolved[0].value == doctest::Approx(1.0));
  CHECK(feed.records(30, 10, 0.0).empty());  // once
}

TEST_CASE("too few records in the window say nothing, and a value flapping around the threshold makes no storm") {
  Feed few(rule_of(AlertKind::success_rate, 0.95));
  CHECK(few.records(30, 0, 0.0).empty());
  CHECK(few.records(5, 1, 1.0).empty());  // 5 failures, but fewer than min_samples (10) in the window
  CHECK_FALSE(few.firing());

  Feed flapping(rule_of(AlertKind::success_rate, 0.95));
  std::vector<AlertEvent> all;
  for (int i = 0; i < 20; ++i) {  // 90% one second, 100% the next: never clear for resolve_after
    for (auto& e : flapping.records(1, 100, 0.1)) all.push_back(e);
    for (auto& e : flapping.records(1, 100, 0.0)) all.push_back(e);
  }
  CHECK(all.size() == 1);  // fired once, and not resolved while it flaps
  CHECK(flapping.firing());
}

TEST_CASE("a value back on the good side but within the margin does not resolve") {
  Feed feed(rule_of(AlertKind::rate_limited, 0.2));
  REQUIRE(feed.requests(10, 100, 0.5).size() == 1);
  CHECK(feed.requests(60, 100, 0.19).empty());  // below 20%, but not below 18%
  CHECK(feed.firing());
  const auto resolved = feed.requests(30, 100, 0.05);
  REQUIRE(resolved.size() == 1);
  CHECK_FALSE(resolved[0].firing);
}

TEST_CASE("the median latency is compared with the baseline's, measured over the first baseline_ms") {
  Feed feed(rule_of(AlertKind::latency, 2.0));
  CHECK(feed.latency(15, 20, 50).empty());  // the baseline: about 50 ms
  CHECK(feed.latency(10, 20, 80).empty());  // slower, not twice as slow
  const auto fired = feed.latency(10, 20, 200);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].unit == "ms");
  CHECK(fired[0].value > 150);
  CHECK(fired[0].threshold == doctest::Approx(2 * 50).epsilon(0.2));
  const auto resolved = feed.latency(30, 20, 50);
  REQUIRE(resolved.size() == 1);
  CHECK_FALSE(resolved[0].firing);
}

TEST_CASE("before its baseline is known a latency rule says nothing") {
  Feed feed(rule_of(AlertKind::latency, 2.0));
  CHECK(feed.latency(5, 20, 50).empty());
  CHECK(feed.latency(4, 20, 5000).empty());  // still within the first 10 s: no baseline to compare with
  CHECK_FALSE(feed.firing());
}

TEST_CASE("a cost rule fires on the dollars spent within its window, and over the whole run with a window of 0") {
  Feed window(rule_of(AlertKind::cost, 1.0));
  CHECK(window.spend(10, 0.05).empty());  // $0.50 in 10 s
  const auto fired = window.spend(10, 0.2);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].unit == "usd");
  const auto resolved = window.spend(30, 0.0);  // nothing spent any more: the window empties
  REQUIRE(resolved.size() == 1);
  CHECK_FALSE(resolved[0].firing);

  Feed whole(rule_of(AlertKind::cost, 1.0, 0ms));
  CHECK(whole.spend(15, 0.05).empty());
  REQUIRE(whole.spend(10, 0.05).size() == 1);  // past $1 in all
  CHECK(whole.spend(60, 0.0).empty());         // spent stays spent
  const auto ended = whole.resolve_all();
  REQUIRE(ended.size() == 1);
  CHECK_FALSE(ended[0].firing);
  CHECK(ended[0].summary.find("the run ended") != std::string::npos);
}

TEST_CASE("no progress fires after its window without a record done while items are in flight, not while idle") {
  Feed feed(rule_of(AlertKind::no_progress, 0, 10s));
  CHECK(feed.records(5, 10, 0.0).empty());
  CHECK(feed.idle(30, true).empty());  // nothing in flight, or paused: not stuck
  CHECK(feed.idle(9, false).empty());
  const auto fired = feed.idle(2, false);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].unit == "seconds");
  CHECK(fired[0].value >= 10);
  CHECK(feed.records(4, 10, 0.0).empty());  // progress again: clear, held for resolve_after
  const auto resolved = feed.records(2, 10, 0.0);
  REQUIRE(resolved.size() == 1);
  CHECK_FALSE(resolved[0].firing);
  CHECK(feed.resolve_all().empty());  // nothing is firing at the end
}

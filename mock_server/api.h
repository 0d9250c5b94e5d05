#pragma once
// The mock API as a whole: routing, simulated faults and latency, authentication, validation,
// rate limits and stats, for one request at a time. Free of any HTTP library (server.cpp does
// the HTTP), and safe to call from several io threads at once.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "mock_server/api_types.h"
#include "mock_server/batch_store.h"
#include "mock_server/error_replies.h"
#include "mock_server/faults.h"
#include "mock_server/options.h"
#include "mock_server/prompt_cache.h"
#include "mock_server/rate_limit.h"
#include "mock_server/routes.h"
#include "mock_server/stats.h"

namespace flowbatch::mock {

class MockApi {
 public:
  explicit MockApi(MockOptions options);

  /// What to answer, and after how long. Every counted reply has been counted as an arrival; the
  /// server reports how it ended (Stats::on_answered or on_dropped).
  ApiReply handle(const ApiRequest& request);

  Stats& stats() { return stats_; }
  const MockOptions& options() const { return options_; }

 private:
  struct Route {
    std::string_view path;
    ApiFlavor flavor;
    RouteOutcome (*prepare)(const ApiRequest&, const RouteContext&);
  };
  static const Route* find_route(const ApiRequest& request);

  ApiReply answer(const Route& route, const ApiRequest& request, std::uint64_t sequence, std::uint64_t request_hash,
                  SteadyClock::time_point now);
  ApiReply answer_unfaulted(const Route& route, const ApiRequest& request, std::uint64_t request_hash,
                            SteadyClock::time_point now);
  std::optional<ApiReply> fault_reply(ApiFlavor flavor, std::uint64_t sequence);
  std::optional<ApiReply> check_api_key(ApiFlavor flavor, const ApiRequest& request) const;
  void add_rate_headers(ApiFlavor flavor, const RateDecision& decision, ApiReply& reply) const;

  MockOptions options_;
  Dice dice_;
  FaultPlan fault_plan_;
  LatencyModel latency_;
  RateLimiter limiter_;
  Stats stats_;
  PromptCache prompt_cache_;
  BatchStore batches_{options_, stats_, prompt_cache_};
  std::atomic<std::uint64_t> next_sequence_{0};
};

}  // namespace flowbatch::mock

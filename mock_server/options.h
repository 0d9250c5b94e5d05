#pragma once
// Everything flowbatch-mock can be told on its command line, already validated by main.cpp.
#include <cstdint>
#include <string>
#include <vector>

#include "nodes/calls/pack_simulation.h"

namespace flowbatch::mock {

struct FaultRates {
  double server_error = 0;  ///< 5xx answers
  double reset = 0;         ///< connection closed without an answer
  double malformed = 0;     ///< 200 with a truncated JSON body
  double truncated = 0;     ///< 200 whose body stops short of its Content-Length, the connection closed
  double hang = 0;          ///< never answered
  double quota = 0;         ///< "insufficient quota" (OpenAI 429, Anthropic 400)
  double trickle = 0;       ///< the answer sent one byte a second
};

struct MockOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  ///< 0: an ephemeral port, printed on start
  int threads = 1;

  double latency_ms = 0;  ///< mean of a lognormal
  double latency_sigma = 0.5;
  /// 0: unlimited. Else the server works on this many requests at full speed; with more in
  /// flight they share it, so latency grows with concurrency past this knee (a GPU server's queue).
  std::int64_t capacity = 0;

  std::int64_t requests_per_minute = 0;  ///< 0: unlimited
  std::int64_t tokens_per_minute = 0;    ///< 0: unlimited
  double burst_seconds = 1.0;            ///< bucket capacity, in seconds of the per-second rate
  /// 0: the limits are token buckets. Else each is a rolling window of this many seconds that
  /// admits the limit's worth of that time (60: N in any 60 s); burst_seconds does not apply.
  double rolling_window_seconds = 0;

  FaultRates faults;
  pack::PackFaults pack_faults;  ///< what packed answers get wrong on purpose
  std::uint64_t seed = 1;

  std::string api_key;               ///< empty: no authentication
  std::vector<std::string> replies;  ///< empty: "mock reply <hash>"
  std::int64_t max_prompt_chars = 100000;

  // The batch APIs (batch_store.h): how long a batch takes, when it expires, what it may hold.
  double batch_seconds = 5;         ///< from creation until every line is done
  double batch_expire_seconds = 0;  ///< 0: batches never expire (before batch_seconds)
  std::int64_t batch_max_lines = 50000;
  std::int64_t batch_max_bytes = 200LL << 20;
  /// OpenAI's batch queue limit: the most prompt tokens one model's batches in progress may hold;
  /// a batch that would pass it fails (token_limit_exceeded). 0: no limit.
  std::int64_t batch_enqueued_tokens = 0;
  /// Anthropic's processing queue: the most requests its batches still in progress may hold; a
  /// create that would pass it is refused with 429 rate_limit_error. 0: no limit.
  std::int64_t batch_processing_requests = 0;
};

}  // namespace flowbatch::mock

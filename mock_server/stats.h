#pragma once
// What the server saw, served as JSON by GET /stats (which is not itself counted) and zeroed by
// POST /stats/reset. Benchmarks read it to check pacing and concurrency from the server's side.
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "mock_server/faults.h"

namespace flowbatch::mock {

class Stats {
 public:
  /// A request arrived on `route` (an API path, or "other" for unknown ones).
  void on_arrival(std::string_view route, std::chrono::steady_clock::time_point now);
  /// An answer is being written: the request is no longer in flight. `request_hash` names the
  /// request (route and body), so a 200 for a request already answered 200 counts as a repeat.
  void on_answered(unsigned status, std::uint64_t request_hash = 0);
  /// A request ended without an answer (reset, or a hang the client gave up on).
  void on_dropped();
  void on_fault(Fault fault);
  void on_rate_limited();
  void add_tokens(std::int64_t tokens);
  /// A client opened a TCP connection (so tests can see keep-alive at work).
  void on_connection();
  /// A batch was created; one of its lines holds a request with this content (url and body).
  void on_batch_created();
  void on_batch_line(std::uint64_t content, const std::string& custom_id);
  /// A batch line answered (and so billed): the hashes of its packed request's inputs (id and text).
  void on_batch_packed_inputs_answered(const std::vector<std::uint64_t>& inputs);
  void on_batch_cancelled();
  /// An OpenAI batch was accepted into its model's queue, which now holds `enqueued` prompt tokens.
  void on_batch_enqueued(std::int64_t enqueued);
  /// An OpenAI batch failed for its model's queue (token_limit_exceeded).
  void on_batch_queue_full();

  std::string to_json() const;
  std::int64_t in_flight() const;
  /// Zeroes the counters. In-flight requests stay counted (they will still end), and the
  /// concurrency peak restarts from them.
  void reset();

 private:
  /// The most arrivals within any 60 s window: one counter per second in a ring.
  class MinuteWindow {
   public:
    void add(std::int64_t second);
    std::uint64_t peak() const { return peak_; }
    void clear() { *this = MinuteWindow{}; }

   private:
    std::array<std::uint64_t, 60> counts_{};
    std::array<std::int64_t, 60> second_of_slot_{};
    std::uint64_t peak_ = 0;
  };

  mutable std::mutex mutex_;
  std::uint64_t requests_ = 0;
  std::map<unsigned, std::uint64_t> by_status_;
  std::map<std::string, std::uint64_t, std::less<>> by_route_;
  std::int64_t in_flight_ = 0;
  std::int64_t peak_concurrency_ = 0;
  MinuteWindow per_minute_;
  std::uint64_t rate_limited_ = 0;
  std::map<Fault, std::uint64_t> faults_;
  std::int64_t tokens_ = 0;
  std::uint64_t connections_ = 0;
  std::unordered_set<std::uint64_t> answered_ok_;  // requests answered 200 (by hash)
  std::uint64_t repeated_ok_ = 0;                  // 200s for a request answered 200 before
  // The batch APIs: how many batches each request (by content) and each custom_id was put in, so a
  // test can check that no item was ever submitted twice.
  std::uint64_t batches_ = 0, batch_lines_ = 0, batches_cancelled_ = 0;
  std::int64_t batch_enqueued_peak_ = 0;  ///< the most prompt tokens one model's queue held
  std::uint64_t batches_queue_full_ = 0;
  std::map<std::uint64_t, std::uint32_t> batches_per_content_;
  std::map<std::string, std::uint32_t, std::less<>> batches_per_custom_id_;
  std::map<std::uint64_t, std::uint32_t> batches_per_packed_input_;
};

}  // namespace flowbatch::mock

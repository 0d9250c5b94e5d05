#pragma once
// What a BatchJobs keeps of each job, line and call collecting requests (batch_jobs.h): shared by
// batch_jobs.cpp (collecting, creating, recovering), batch_job_results.cpp (polling, results,
// answers) and batch_job_queue.cpp (the provider's queue of enqueued tokens: cutting, parking).
// Private to those files.
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/runtime/batch_jobs.h"
#include "engine/runtime/provider_lane.h"

namespace flowbatch {

/// The longest wait between two polls, and after the provider's queue refused a job.
inline constexpr std::chrono::milliseconds kMaxBatchPollInterval{10 * 60 * 1000};
/// The status of a job whose create the provider answered 429: refused for its limits, as for a
/// full queue (queue_refused words the log for it).
inline constexpr std::string_view kCreateRateLimited = "rate_limited";

/// One line of a job: its custom id, the keys of the items it answers, and those whose share of
/// its usage has been counted (a line may answer several requests).
struct BatchJobs::Line {
  std::string custom_id;
  std::vector<std::uint64_t> items;  ///< empty: not known (a state older than item keys)
  std::vector<std::uint64_t> counted;
  bool counted_once = false;  ///< items not known: the first request it answers counts it all
};

struct BatchJobs::Job {
  BatchJobRecord record;
  std::deque<Line> lines;                                  ///< a deque: line_of_item_ and line_named point into it
  std::unordered_map<std::string_view, Line*> line_named;  // by custom id

  Line& add_line(Line line) {
    Line& added = lines.emplace_back(std::move(line));
    line_named[added.custom_id] = &added;
    return added;
  }
  const BatchSettings* settings = nullptr;  ///< null for a job loaded from the state until a request attaches
  std::unordered_map<std::string, std::vector<ExchangePtr>> waiting;  // custom id -> requests
  std::string input;                                                  ///< the lines, until the job is created
  HttpRequest sample;  ///< one online request of the job: where its lines go
  std::optional<std::unordered_map<std::string, BatchLineResult>> results;  ///< once fetched
  std::unordered_map<std::string, BatchLineResult> fetched;
  std::size_t fetches_left = 0;
  bool busy = false;  ///< a request about it is under way
  bool cancel_sent = false;
  bool recovering = false;  ///< its create got no answer: it is being looked for at the provider
  std::string refused;      ///< the provider refused the job as a whole: why
  /// The provider's queue of enqueued tokens (batch_token_queue.h): the model of its requests, and
  /// record.tokens their estimated prompt tokens.
  std::string model;
  bool parked = false;   ///< waiting for room in that queue: not created (status "parked": not recorded either)
  bool counted = false;  ///< the queue knows it (this run's jobs from their submission, an earlier run's once attached)
};

struct BatchJobs::Collecting {
  const BatchSettings* settings = nullptr;
  std::vector<ExchangePtr> exchanges;  ///< one per line
  std::vector<ExchangePtr>
      followers;  ///< the same request as one of `exchanges` (same custom id): answered by its line
  std::unordered_set<std::string> ids;
  std::string lines;
  std::string model;        ///< of its requests: a job holds one model's
  std::int64_t tokens = 0;  ///< their estimated prompt tokens
  bool timer = false;
  std::chrono::steady_clock::time_point first_added, last_added;
};

}  // namespace flowbatch

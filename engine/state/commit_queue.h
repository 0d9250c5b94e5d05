#pragma once
#include <atomic>
#include <functional>
#include <string>

#include "engine/core/job_queue.h"

namespace flowbatch {

/// The run's one commit thread: sinks hand it their commits (fsync the data, then record it in
/// the state), so the data path never waits for a disk. Commits run one at a time, in the order
/// they were posted; that order is what makes a record shared by two sinks complete only after
/// both have synced its items.
///
/// A commit that throws poisons the queue: after a failed fsync the data may be gone even if a
/// later fsync succeeds, so nothing later may be recorded as durable. The failure is reported
/// once, on the commit thread, with `disk_full` set when it was a full disk (StorageFull).
class CommitQueue {
 public:
  using FailureHandler = std::function<void(const std::string& message, bool disk_full)>;

  explicit CommitQueue(FailureHandler on_failure) : on_failure_(std::move(on_failure)) {}

  /// Queues a commit. `what` names it in a failure ("out.jsonl").
  void post(std::string what, std::function<void()> commit);
  /// Waits until every commit posted so far has run.
  void drain() { thread_.drain(); }
  bool poisoned() const { return poisoned_.load(); }

 private:
  FailureHandler on_failure_;
  std::atomic<bool> poisoned_{false};
  JobQueue thread_{1};  // last: joined before the rest goes
};

}  // namespace flowbatch

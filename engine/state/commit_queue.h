#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace flowbatch {

/// The run's one commit thread: sinks hand it their commits (fsync the data, then record it in
/// the state), so the data path never waits for a disk. Jobs run one at a time, in the order
/// they were posted; that order is what makes a record shared by two sinks complete only after
/// both have synced its items.
///
/// A job that throws poisons the queue: after a failed fsync the data may be gone even if a later
/// fsync succeeds, so nothing later may be recorded as durable. The failure is reported once.
class CommitQueue {
 public:
  using Job = std::function<void()>;
  using FailureHandler = std::function<void(const std::string& message)>;

  explicit CommitQueue(FailureHandler on_failure);
  ~CommitQueue();  // runs what is queued, then stops
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  /// Queues a job. `what` names it in a failure ("sink out").
  void post(std::string what, Job job);
  /// Waits until every job posted so far has run.
  void drain();
  bool poisoned() const;

 private:
  struct Entry {
    std::string what;
    Job job;
  };
  void work();

  FailureHandler on_failure_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;   // the worker: a job arrived or stop
  std::condition_variable idle_;   // drain(): the queue ran dry
  std::deque<Entry> jobs_;
  bool running_job_ = false;
  bool stop_ = false;
  bool poisoned_ = false;
  std::thread worker_;  // last: starts once everything above exists
};

}  // namespace flowbatch

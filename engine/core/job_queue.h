#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flowbatch {

/// A fixed number of engine-owned threads running jobs in the order they were posted: for work
/// that must not run on a TBB worker or an I/O thread because it blocks (a disk sync, a local
/// command). The threads start with the first job, so a run that never needs them has none.
/// Jobs must not throw; wrap what they call.
class JobQueue {
 public:
  explicit JobQueue(std::size_t threads);
  ~JobQueue();  // stop()
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  void post(std::function<void()> job);
  /// Waits until every job posted so far has run.
  void drain();
  /// Runs what is queued, then joins the threads. Later posts run nothing. Idempotent.
  void stop();

 private:
  void work();

  const std::size_t size_;
  std::mutex mutex_;
  std::condition_variable wake_;  // workers: a job arrived, or stop
  std::condition_variable idle_;  // drain(): nothing queued or running
  std::deque<std::function<void()>> jobs_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace flowbatch

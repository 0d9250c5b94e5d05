#include "engine/state/commit_queue.h"

#include <exception>

namespace flowbatch {

CommitQueue::CommitQueue(FailureHandler on_failure) : on_failure_(std::move(on_failure)), worker_([this] { work(); }) {}

CommitQueue::~CommitQueue() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void CommitQueue::post(std::string what, Job job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Entry{std::move(what), std::move(job)});
  }
  wake_.notify_one();
}

void CommitQueue::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return jobs_.empty() && !running_job_; });
}

bool CommitQueue::poisoned() const {
  std::lock_guard lock(mutex_);
  return poisoned_;
}

void CommitQueue::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing is left to run
    Entry entry = std::move(jobs_.front());
    jobs_.pop_front();
    if (poisoned_) {  // an earlier commit failed: nothing after it may claim to be durable
      if (jobs_.empty()) idle_.notify_all();
      continue;
    }
    running_job_ = true;
    lock.unlock();
    std::string failure;
    try {
      entry.job();
    } catch (const std::exception& e) {
      failure = entry.what + ": " + e.what();
    }
    lock.lock();
    running_job_ = false;
    if (!failure.empty()) {
      poisoned_ = true;
      lock.unlock();
      on_failure_(failure);  // outside the lock: the handler may stop the run
      lock.lock();
    }
    if (jobs_.empty()) idle_.notify_all();
  }
}

}  // namespace flowbatch

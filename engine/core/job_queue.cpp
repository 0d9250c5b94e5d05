#include "engine/core/job_queue.h"

namespace flowbatch {

JobQueue::JobQueue(std::size_t threads) : size_(threads == 0 ? 1 : threads) {}

JobQueue::~JobQueue() { stop(); }

void JobQueue::post(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    jobs_.push_back(std::move(job));
    if (threads_.size() < size_ && threads_.size() < jobs_.size() + running_)
      threads_.emplace_back([this] { work(); });  // grows to its size only as work needs it
  }
  wake_.notify_one();
}

void JobQueue::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return jobs_.empty() && running_ == 0; });
}

void JobQueue::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (auto& t : threads) t.join();
}

void JobQueue::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing is left to run
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    ++running_;
    lock.unlock();
    job();
    lock.lock();
    --running_;
    if (jobs_.empty() && running_ == 0) idle_.notify_all();
  }
}

}  // namespace flowbatch

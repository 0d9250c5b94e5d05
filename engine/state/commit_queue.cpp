#include "engine/state/commit_queue.h"

#include <exception>

namespace flowbatch {

void CommitQueue::post(std::string what, std::function<void()> commit) {
  thread_.post([this, what = std::move(what), commit = std::move(commit)] {
    if (poisoned_.load()) return;  // an earlier commit failed: nothing after it may claim to be durable
    try {
      commit();
    } catch (const std::exception& e) {
      poisoned_ = true;
      on_failure_(what + ": " + e.what());
    }
  });
}

}  // namespace flowbatch

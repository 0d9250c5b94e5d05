#include "engine/state/commit_queue.h"

#include "engine/core/exceptions.h"

namespace flowbatch {

void CommitQueue::post(std::string what, std::function<void()> commit) {
  thread_.post([this, what = std::move(what), commit = std::move(commit)] {
    if (poisoned_.load()) return;  // an earlier commit failed: nothing after it may claim to be durable
    try {
      commit();
    } catch (const StorageFull& e) {
      poisoned_ = true;
      on_failure_(what + ": " + e.what(), true);
    } catch (...) {  // a sink's sync() or the state store: the run stops, and nothing after claims durability
      poisoned_ = true;
      on_failure_(what + ": " + current_exception_message(), false);
    }
  });
}

}  // namespace flowbatch

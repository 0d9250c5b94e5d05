#include "engine/runtime/run_state.h"

#include "engine/state/records.h"

namespace flowbatch {

RunState::RunState(std::size_t max_in_flight, Console& console_ref, const Redactor& redactor_ref, EventLoop& loop_ref)
    : admission(max_in_flight), console(console_ref), redactor(redactor_ref), loop(loop_ref) {}

void RunState::items_created(std::size_t count) {
  const std::int64_t now = outstanding_.fetch_add(static_cast<std::int64_t>(count)) + static_cast<std::int64_t>(count);
  std::int64_t peak = metrics.peak_outstanding.load(std::memory_order_relaxed);
  while (now > peak && !metrics.peak_outstanding.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void RunState::items_ended(const ItemVector& items, Ending ending, NodeStats* at) {
  if (items.empty()) return;
  std::size_t slots = 0;
  for (const Item& item : items) {
    if (item.holds_admission) ++slots;
    note_record(item, ending);
  }
  count_endings(items.size(), slots, ending, at);
}

void RunState::items_ended(const Item& item, Ending ending, NodeStats* at) {
  note_record(item, ending);
  count_endings(1, item.holds_admission ? 1 : 0, ending, at);
}

/// What an item's end means for its input record (sinks report their commits themselves).
void RunState::note_record(const Item& item, Ending ending) {
  if (ending == Ending::dead_letter && item.failure) metrics.count_dead(item.failure->error_class);
  if (ending == Ending::abandoned) record_abandoned(item);
  else if (ending == Ending::discarded && state && record_completes(item)) record_completed(record_key(item));
}

void RunState::record_completed(const RecordKey& key) {
  std::lock_guard lock(completed_mutex_);
  completed_.push_back(key);
}

void RunState::flush_completed() {
  std::vector<RecordKey> batch;
  {
    std::lock_guard lock(completed_mutex_);
    batch.swap(completed_);
  }
  if (state && !batch.empty()) state->complete(batch, source_names);
}

void RunState::item_replaced(std::size_t produced) {
  items_created(produced);  // before the decrement: the count must never touch zero on the way
  outstanding_.fetch_sub(1);
}

void RunState::count_endings(std::size_t n, std::size_t slots, Ending ending, NodeStats* at) {
  switch (ending) {
    case Ending::sink: metrics.succeeded.fetch_add(n, std::memory_order_relaxed); break;
    case Ending::dead_letter: metrics.dead.fetch_add(n, std::memory_order_relaxed); break;
    case Ending::discarded: metrics.discarded.fetch_add(n, std::memory_order_relaxed); break;
    case Ending::abandoned: metrics.abandoned.fetch_add(n, std::memory_order_relaxed); break;
    case Ending::skipped: metrics.skipped.fetch_add(n, std::memory_order_relaxed); break;
  }
  if (at) at->ended.fetch_add(n, std::memory_order_relaxed);
  // The items are gone before their slots are given back, so a chunk admitted in exchange never
  // counts twice. (If this reaches zero the run may end; the release that follows is harmless.)
  const bool last = outstanding_.fetch_sub(static_cast<std::int64_t>(n)) == static_cast<std::int64_t>(n);
  admission.release(slots);
  if (last && sources_finished()) notify_idle();
}

void RunState::fail(std::string message) {
  {
    std::lock_guard lock(fatal_mutex_);
    if (fatal_) return;  // the first failure is the one worth reporting
    fatal_message_ = std::move(message);
    fatal_ = true;
  }
  if (stop_hook_) stop_hook_();
}

void RunState::stop_resumable(std::string reason) {
  {
    std::lock_guard lock(fatal_mutex_);
    if (resumable_) return;
    resumable_reason_ = std::move(reason);
    resumable_ = true;
  }
  if (drain_hook_) drain_hook_();
}

std::string RunState::resumable_reason() const {
  std::lock_guard lock(fatal_mutex_);
  return resumable_reason_;
}

std::string RunState::fatal_error() const {
  std::lock_guard lock(fatal_mutex_);
  return fatal_message_;
}

std::int64_t RunState::unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace flowbatch

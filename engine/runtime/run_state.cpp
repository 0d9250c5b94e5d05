#include "engine/runtime/run_state.h"

#include <algorithm>

#include "engine/core/exceptions.h"
#include "engine/core/hash.h"

namespace flowbatch {

RunState::RunState(std::size_t max_in_flight, Console& console_ref, const Redactor& redactor_ref, EventLoop& loop_ref,
                   RunServices services)
    : admission(max_in_flight),
      budget(services.cost),
      console(console_ref),
      redactor(redactor_ref),
      loop(loop_ref),
      replayed_before(std::move(services.replayed_before)),
      append_outputs(services.append_outputs),
      store(services.store),
      commits(services.commits),
      cache_file(std::move(services.cache_file)),
      dry_calls(services.dry_calls),
      sample_rate_(services.sample_rate),
      sample_seed_(services.sample_seed) {
  // With a state, discarded items complete their records through the commit thread.
  if (store) ledger.track_discards();
  ledger.set_idle_hook([this] { notify_idle(); });
  ledger.set_sources_done([this] { return sources_finished(); });
  metrics.spent_before_nano.store(services.cost.spent_before);
}

bool RunState::sampled(std::uint64_t line) const {
  if (sample_rate_ >= 1) return true;
  // A pseudo-random pick that needs no count of the records: the same lines for the same seed.
  const std::uint64_t h =
      stable_hash(std::string_view(reinterpret_cast<const char*>(&line), sizeof line), sample_seed_);
  return static_cast<double>(h >> 11) * 0x1.0p-53 < sample_rate_;
}

ResponseCache* RunState::response_cache() {
  if (cache_file.empty()) return nullptr;
  std::lock_guard lock(cache_mutex_);
  if (!cache_) cache_ = std::make_unique<ResponseCache>(cache_file);
  return cache_.get();
}

bool RunState::response_cache_opened() const {
  std::lock_guard lock(cache_mutex_);
  return cache_ != nullptr;
}

void RunState::commit_discards() {
  if (!store || !commits) return;
  CommitBatch discarded = ledger.take_discarded();
  if (discarded.empty()) return;
  commits->post("discarded items", [this, discarded = std::move(discarded), names = &source_keys]() mutable {
    RecordRuns completed;
    std::vector<ItemKey> partial;  // a discarded item needs no memory: a redone record discards it again
    discarded.settle(completed, partial);
    store->complete(completed, *names);
    acknowledge(completed);
  });
}

void RunState::acknowledge(const RecordRuns& completed) const { acknowledge(acknowledgeable_lines(completed), {}); }

std::vector<std::vector<std::uint64_t>> RunState::acknowledgeable_lines(const RecordRuns& completed) const {
  std::vector<std::vector<std::uint64_t>> lines(acknowledgers.size());
  for (const RecordRuns::Run& run : completed.runs())
    if (run.source < acknowledgers.size() && acknowledgers[run.source])
      for (std::size_t i = 0; i < run.count; ++i) lines[run.source].push_back(run.first_line + i);
  return lines;
}

std::vector<Acknowledgement> RunState::acknowledgements(const std::vector<std::vector<std::uint64_t>>& lines,
                                                        const std::vector<std::uint16_t>& sources) const {
  std::vector<Acknowledgement> out;
  for (std::uint16_t s : sources)
    if (!lines[s].empty())
      if (auto acknowledgement = acknowledgers[s]->acknowledgement(lines[s]))
        out.push_back(std::move(*acknowledgement));
  return out;
}

void RunState::acknowledge(const std::vector<std::vector<std::uint64_t>>& lines,
                           const std::vector<std::uint16_t>& acknowledged_by_sink) const {
  for (std::size_t s = 0; s < lines.size(); ++s) {
    if (lines[s].empty()) continue;
    const bool by_sink =
        std::find(acknowledged_by_sink.begin(), acknowledged_by_sink.end(), s) != acknowledged_by_sink.end();
    if (by_sink) acknowledgers[s]->acknowledged_by_sink(lines[s]);
    else acknowledgers[s]->acknowledge(lines[s]);
  }
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

void RunState::stop_resumable_now(std::string reason) {
  {
    std::lock_guard lock(fatal_mutex_);
    if (!resumable_) {
      resumable_reason_ = std::move(reason);
      resumable_ = true;
    }
  }
  if (stop_hook_) stop_hook_();
}

void RunState::stop_for_current_exception(const std::string& context) {
  std::string message = current_exception_message();
  if (!context.empty()) message = context + ": " + message;
  try {
    throw;
  } catch (const StorageFull&) {
    stop_resumable_now(std::move(message));
  } catch (...) {
    fail(std::move(message));
  }
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

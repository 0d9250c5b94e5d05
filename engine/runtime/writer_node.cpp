#include "engine/runtime/writer_node.h"

#include <fmt/format.h>

#include "engine/core/exceptions.h"

namespace flowbatch {

const std::vector<KeySpec>& flush_keys() {
  static const std::vector<KeySpec> keys = {
      {"flush_every", KeyKind::integer, false, "200", "flush after this many items"},
      {"flush_interval_ms", KeyKind::integer, false, "1000", "flush at least this often while items arrive"},
  };
  return keys;
}

FlushPolicy read_flush_policy(Options& o) {
  FlushPolicy p;
  const std::int64_t every = o.integer("flush_every");
  if (every < 1) o.error("flush_every", "must be at least 1");
  else p.every_items = static_cast<std::size_t>(every);
  const std::int64_t interval = o.integer("flush_interval_ms");
  if (interval < 1) o.error("flush_interval_ms", "must be at least 1");
  else p.interval = std::chrono::milliseconds(interval);
  return p;
}

WriterNode::WriterNode(BuildContext& context, Opener open, FlushPolicy policy, Ending ending, std::string destination)
    : run_(context.run),
      stats_(context.stats),
      log_(context.log),
      name_(context.node().name),
      open_(std::move(open)),
      policy_(policy),
      ending_(ending),
      destination_(std::move(destination)),
      node_(context.graph, flow::serial, [this](const Packet& p) {
        const std::lock_guard turn(turn_);
        receive(p);
        return flow::continue_msg();
      }) {
  stats_.destination = destination_;
}

void WriterNode::start() {
  std::uint64_t position = 0;
  if (run_.append_outputs) {
    position = kAppend;
  } else if (run_.store) {
    position = run_.store->sink_position(name_);
    for (const ItemKey& key : run_.store->partial_items(name_, run_.source_keys)) committed_before_.insert(key);
    if (ending_ == Ending::dead_letter) run_.metrics.dead_held.fetch_add(run_.store->sink_items(name_));
  }
  writer_ = open_(position);
  join_acknowledgements();
  last_flush_ = std::chrono::steady_clock::now();
}

/// A queue-like source acknowledging in the store this output writes to (the same database): its
/// acknowledgements ride in this output's commits, one transaction with the results.
void WriterNode::join_acknowledgements() {
  const std::string store = writer_->store();
  if (store.empty() || !run_.store) return;
  for (std::size_t s = 0; s < run_.acknowledgers.size(); ++s) {
    const auto& acknowledger = run_.acknowledgers[s];
    if (acknowledger && acknowledger->store() == store) joined_sources_.push_back(static_cast<std::uint16_t>(s));
  }
  if (!joined_sources_.empty() && !writer_->join_acknowledgements()) joined_sources_.clear();
  if (!joined_sources_.empty())
    log_.info("commits its results and marks their records done at their source in one transaction");
}

/// Resuming a record that an earlier run did not finish: this output may already hold some of its
/// items (committed while another output had not yet committed the rest).
bool WriterNode::committed_before(const Item& item) {
  return !committed_before_.empty() && ItemLedger::shares_record(item) &&
         committed_before_.count(ItemLedger::key(item)) > 0;
}

void WriterNode::receive(const Packet& packet) {
  if (packet.is_tick()) {
    if (unflushed_ > 0 && std::chrono::steady_clock::now() - last_flush_ >= policy_.interval) flush();
    return;
  }
  ItemVector& items = *packet.items;
  stats_.received.fetch_add(items.size(), std::memory_order_relaxed);
  if (broken_ || !writer_) {  // the run is stopping; these items are for the resumed run
    run_.ledger.end(items, Ending::abandoned);
    return;
  }
  std::size_t written = 0;
  try {
    for (const Item& item : items) {
      const bool already = committed_before(item);
      if (!already) {
        writer_->write(item);
        ++written;
      }
      if (run_.store) uncommitted_.add(item);  // either way its record counts it as committed here
    }
  } catch (...) {    // a sink type's writer (maybe a plugin's) that throws: the run stops, resumable
    broken_ = true;  // a full disk stops the run resumable, anything else fails it
    run_.stop_for_current_exception(destination_);
    run_.ledger.end(items, Ending::abandoned);
    return;
  }
  items_added_ += written;
  if (ending_ == Ending::dead_letter) run_.metrics.dead_held.fetch_add(written, std::memory_order_relaxed);
  unflushed_ += items.size();
  run_.ledger.end(items, ending_, &stats_);
  if (unflushed_ >= policy_.every_items) flush();
}

void WriterNode::flush() {
  if (broken_ || !writer_) return;
  try {
    commit();
  } catch (...) {
    broken_ = true;
    run_.stop_for_current_exception(destination_);
    return;
  }
  unflushed_ = 0;
  last_flush_ = std::chrono::steady_clock::now();
}

/// Data first (out and synced), then the state: a kill between the two leaves records the state
/// does not know of, which the resumed run truncates away and does again. The sync and the state
/// write happen on the run's commit thread, so this node goes on writing meanwhile; without a
/// state nothing needs to be durable before the end, so flush points only hand the data out.
void WriterNode::commit() {
  const std::uint64_t position = writer_->write_out();
  if (run_.store) post_commit(position);
}

void WriterNode::post_commit(std::uint64_t position) {
  // Records are settled on the commit thread, after the sync: commits run in order there, so a
  // record shared with another output completes only once both have synced their items.
  run_.commits->post(destination_,
                     [&run = run_, writer = writer_.get(), state = run_.store, names = &run_.source_keys, name = name_,
                      position, added = items_added_, batch = std::move(uncommitted_), stats = &stats_,
                      joined = &joined_sources_, posted = std::chrono::steady_clock::now()]() mutable {
                       // Settling only counts in memory which records this commit completes; should the sync fail,
                       // the run stops and nothing of it is recorded.
                       RecordRuns completed;
                       std::vector<ItemKey> partial;
                       batch.settle(completed, partial);
                       const auto lines = run.acknowledgeable_lines(completed);
                       if (joined->empty()) writer->sync();
                       else writer->sync_with(run.acknowledgements(lines, *joined));
                       state->commit(name, StateStore::Commit{position, added, &completed, &partial}, *names);
                       stats->commits.fetch_add(1, std::memory_order_relaxed);
                       stats->committed_items.fetch_add(added, std::memory_order_relaxed);
                       stats->committed_position.store(position, std::memory_order_release);
                       stats->commit_latency.record(std::chrono::steady_clock::now() - posted);
                       run.acknowledge(lines, *joined);  // queue-like sources: only now, with results and state durable
                     });
  uncommitted_ = CommitBatch();
  items_added_ = 0;
}

void WriterNode::finish() {
  const std::lock_guard turn(turn_);
  if (broken_ || !writer_) {
    if (run_.commits) run_.commits->drain();  // the writer must outlive its queued commits
    return;
  }
  const std::uint64_t position = writer_->write_out();  // a failure here reaches the runner
  unflushed_ = 0;
  if (run_.store) {
    post_commit(position);
    run_.commits->drain();  // a failed commit has failed the run by now
  } else {
    writer_->sync();
  }
}

}  // namespace flowbatch

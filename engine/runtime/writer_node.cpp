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
        receive(p);
        return flow::continue_msg();
      }) {
  stats_.destination = destination_;
}

void WriterNode::start() {
  std::uint64_t position = 0;
  if (run_.append_outputs) position = kAppend;
  else if (run_.state) position = run_.state->sink_position(name_);
  writer_ = open_(position);
  last_flush_ = std::chrono::steady_clock::now();
}

void WriterNode::receive(const Packet& packet) {
  if (packet.is_tick()) {
    if (unflushed_ > 0 && std::chrono::steady_clock::now() - last_flush_ >= policy_.interval) flush();
    return;
  }
  ItemVector& items = *packet.items;
  stats_.received.fetch_add(items.size(), std::memory_order_relaxed);
  if (broken_ || !writer_) {  // the run is stopping; these items are for the resumed run
    run_.items_ended(items, Ending::abandoned);
    return;
  }
  try {
    for (const Item& item : items) {
      writer_->write(item);
      if (!run_.state) continue;
      if (item.record) uncommitted_shared_.push_back(Shared{record_key(item), item.record});
      else uncommitted_.add(item.source_index, item.line, item.input_hash);
    }
  } catch (...) {  // a sink type's writer (maybe a plugin's) that throws: the run stops, resumable
    broken_ = true;
    run_.fail(fmt::format("{}: {}", destination_, current_exception_message()));
    run_.items_ended(items, Ending::abandoned);
    return;
  }
  unflushed_ += items.size();
  run_.items_ended(items, ending_, &stats_);
  if (unflushed_ >= policy_.every_items) flush();
}

void WriterNode::flush() {
  if (broken_ || !writer_) return;
  try {
    commit();
  } catch (...) {
    broken_ = true;
    run_.fail(fmt::format("{}: {}", destination_, current_exception_message()));
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
  if (run_.state) post_commit(position);
}

void WriterNode::post_commit(std::uint64_t position) {
  // Tickets are counted down on the commit thread, after the sync: commits run in order there,
  // so a record shared with another sink completes only once both have synced their items.
  run_.commits->post(destination_, [writer = writer_.get(), state = run_.state, names = &run_.source_names, name = name_,
                                    position, runs = std::move(uncommitted_), shared = std::move(uncommitted_shared_)]() mutable {
    writer->sync();
    for (const Shared& s : shared)
      if (record_completes(s.ticket)) runs.add(s.key.source, s.key.line, s.key.hash);
    state->commit(name, position, runs, *names);
  });
  uncommitted_ = RecordRuns();
  uncommitted_shared_.clear();
}

void WriterNode::finish() {
  if (broken_ || !writer_) {
    if (run_.commits) run_.commits->drain();  // the writer must outlive its queued commits
    return;
  }
  const std::uint64_t position = writer_->write_out();  // a failure here reaches the runner
  unflushed_ = 0;
  if (run_.state) {
    post_commit(position);
    run_.commits->drain();  // a failed commit has failed the run by now
  } else {
    writer_->sync();
  }
}

}  // namespace flowbatch

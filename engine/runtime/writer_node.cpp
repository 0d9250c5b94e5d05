#include "engine/runtime/writer_node.h"

#include <fmt/format.h>

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
      if (run_.state) uncommitted_.push_back(Written{record_key(item), item.record});
    }
  } catch (const std::exception& e) {
    broken_ = true;
    run_.fail(fmt::format("{}: {}", destination_, e.what()));
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
  } catch (const std::exception& e) {
    broken_ = true;
    run_.fail(fmt::format("{}: {}", destination_, e.what()));
    return;
  }
  unflushed_ = 0;
  last_flush_ = std::chrono::steady_clock::now();
}

/// Data first (written and synced), then the state: a kill between the two leaves records the
/// state does not know of, which the resumed run truncates away and does again.
void WriterNode::commit() {
  const std::uint64_t position = writer_->flush();
  if (!run_.state) return;
  std::vector<RecordKey> complete;
  complete.reserve(uncommitted_.size());
  for (const Written& w : uncommitted_)
    if (record_completes(w.ticket)) complete.push_back(w.key);
  run_.state->commit(name_, position, complete, run_.source_names);
  uncommitted_.clear();
}

void WriterNode::finish() {
  if (broken_ || !writer_) return;
  commit();  // a failure here reaches the runner, which reports it
  unflushed_ = 0;
}

}  // namespace flowbatch

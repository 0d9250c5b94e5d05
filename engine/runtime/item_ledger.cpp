#include "engine/runtime/item_ledger.h"

#include "engine/core/hash.h"

namespace flowbatch {
namespace {

/// The part number of the `index`-th item made from the item with part `parent`: the same in
/// every run for the same graph and input, so a resumed run recognises what an output committed.
std::uint64_t child_part(std::uint64_t parent, std::uint64_t kind, std::uint64_t index) {
  const std::uint64_t words[3] = {parent, kind, index};
  const std::uint64_t part =
      stable_hash(std::string_view(reinterpret_cast<const char*>(words), sizeof words), 0x1ed6e5);
  return part == 0 ? 1 : part;  // 0 is the record's own item
}
constexpr std::uint64_t kCopy = 1;
constexpr std::uint64_t kSplit = 2;
constexpr std::uint64_t kMerge = 3;

}  // namespace

// --- CommitBatch -----------------------------------------------------------------------------------

void CommitBatch::add(const Item& item) {
  if (const auto& ticket = ItemLedger::ticket(item)) shared_.push_back(Shared{ItemLedger::key(item), ticket});
  else {
    const RecordKey record = ItemLedger::record_key(item);
    alone_.add(record.source, record.line, record.hash);
  }
}

void CommitBatch::settle(RecordRuns& completed, std::vector<ItemKey>& partial) {
  completed = std::move(alone_);
  alone_ = RecordRuns();
  for (const Shared& s : shared_) {
    const bool last = s.ticket->uncommitted.fetch_sub(1, std::memory_order_acq_rel) == 1;
    if (!last || s.ticket->abandoned.load()) {
      partial.push_back(s.key);
    } else if (s.ticket->members.empty()) {
      completed.add(s.key.source, s.key.line, s.key.hash);
    } else {
      // The group is committed: so is each item merged into it. A member whose record has
      // items still uncommitted elsewhere leaves the output's item to remember, as any partial.
      bool all_complete = true;
      for (const ItemTrace& member : s.ticket->members) all_complete &= commit_member(member, completed);
      if (!all_complete) partial.push_back(s.key);
    }
  }
  shared_.clear();
}

bool CommitBatch::commit_member(const ItemTrace& member, RecordRuns& completed) {
  const auto& ticket = ItemLedger::ticket(member);
  const ItemKey key = ItemLedger::key(member);
  if (!ticket) {
    completed.add(key.source, key.line, key.hash);
    return true;
  }
  if (ticket->uncommitted.fetch_sub(1, std::memory_order_acq_rel) != 1 || ticket->abandoned.load()) return false;
  if (ticket->members.empty()) {
    completed.add(key.source, key.line, key.hash);
    return true;
  }
  bool all_complete = true;  // a merge of merged items
  for (const ItemTrace& inner : ticket->members) all_complete &= commit_member(inner, completed);
  return all_complete;
}

// --- ItemLedger ------------------------------------------------------------------------------------

void ItemLedger::admit(ItemVector& items, std::uint16_t source) {
  for (Item& item : items) {
    item.trace.source_ = source;
    item.trace.position_ = item.line;
    item.trace.holds_admission_ = true;
  }
  created(items.size());
  metrics_.admitted.fetch_add(items.size(), std::memory_order_relaxed);
}

std::shared_ptr<RecordTicket>& ItemLedger::shared_ticket(Item& item) {
  if (!item.trace.record_) item.trace.record_ = std::make_shared<RecordTicket>();
  return item.trace.record_;
}

Item ItemLedger::copy(Item& item, std::size_t branch) {
  auto& ticket = shared_ticket(item);  // the original shares its record from now on
  Item out(item);
  ticket->alive.fetch_add(1, std::memory_order_acq_rel);
  ticket->uncommitted.fetch_add(1, std::memory_order_acq_rel);
  out.trace.part_ = child_part(item.trace.part_, kCopy, branch);
  out.trace.holds_admission_ = false;  // the original keeps the slot
  created(1);
  return out;
}

void ItemLedger::split(Item& input, const ItemTrace& before, ItemVector& outputs, std::size_t first, bool input_goes_on,
                       NodeStats* at) {
  input.trace = before;  // whatever the transform did to the input, its bookkeeping stands
  const std::size_t made = outputs.size() - first;
  if (made == 0 && !input_goes_on) {  // filtered out on purpose: it ends here, its record done
    end(input, Ending::discarded, at);
    return;
  }
  const std::size_t items_now = made + (input_goes_on ? 1 : 0);
  if (items_now > 1) {
    auto& ticket = shared_ticket(input);
    ticket->alive.fetch_add(static_cast<int>(items_now) - 1, std::memory_order_acq_rel);
    ticket->uncommitted.fetch_add(static_cast<int>(items_now) - 1, std::memory_order_acq_rel);
  }
  for (std::size_t i = first; i < outputs.size(); ++i) {
    ItemTrace& t = outputs[i].trace;
    t = input.trace;
    t.holds_admission_ = false;
    // A single output takes the input's place as the same part; several are parts of their own.
    if (items_now > 1) t.part_ = child_part(input.trace.part_, kSplit, i - first);
  }
  // The input's admission slot stays with the input when it goes on, else moves to the first output.
  if (!input_goes_on && made > 0) {
    outputs[first].trace.holds_admission_ = input.trace.holds_admission_;
    input.trace.holds_admission_ = false;
  }
  // Counted before the input is replaced, so the count of items alive never touches zero midway.
  created(made);
  if (!input_goes_on) {
    const bool last = alive_.fetch_sub(1) == 1;
    if (last) notify_if_idle();
  }
}

void ItemLedger::merge(ItemVector& inputs, Item& merged) {
  if (inputs.empty()) return;
  auto ticket = std::make_shared<RecordTicket>();
  ItemTrace& t = merged.trace;
  t = inputs.front().trace;  // the group is known by its first member's record, as a part of its own
  t.part_ = child_part(inputs.front().trace.part_, kMerge, inputs.size());
  t.holds_admission_ = false;  // the members keep their slots until the group ends
  ticket->members.reserve(inputs.size());
  for (Item& input : inputs) {
    ticket->members.push_back(std::move(input.trace));
    input.trace = ItemTrace();  // the group holds it now
  }
  t.record_ = std::move(ticket);
  // The inputs go into the group: one item alive where there were many. Created first, so the
  // count of items alive never touches zero midway.
  created(1);
  const auto n = static_cast<std::int64_t>(inputs.size());
  if (alive_.fetch_sub(n) == n) notify_if_idle();
}

void ItemLedger::created(std::size_t n) {
  if (n == 0) return;
  const auto now = alive_.fetch_add(static_cast<std::int64_t>(n)) + static_cast<std::int64_t>(n);
  std::int64_t peak = metrics_.peak_outstanding.load(std::memory_order_relaxed);
  while (now > peak && !metrics_.peak_outstanding.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {}
}

void ItemLedger::end(const ItemVector& items, Ending ending, NodeStats* at) {
  if (items.empty()) return;
  std::size_t slots = 0;
  for (const Item& item : items) slots += item_ended(item, ending);
  count(items.size(), slots, ending, at);
}

void ItemLedger::end(const Item& item, Ending ending, NodeStats* at) { count(1, item_ended(item, ending), ending, at); }

std::size_t ItemLedger::item_ended(const Item& item, Ending ending) {
  if (ending == Ending::dead_letter && item.failure) metrics_.count_dead(*item.failure, item.id);
  if (ending != Ending::abandoned && ending != Ending::skipped && metrics_.item_costs.enabled())
    metrics_.item_costs.add({item.cost_nano_usd, item.input_tokens, item.output_tokens});
  if (ending == Ending::discarded && track_discards_) {
    std::lock_guard lock(discarded_mutex_);
    discarded_.add_discarded(item);
  }
  return record_ended(item.trace, ending);
}

/// An item of a record ended: when it was the record's last, the record is done (for progress:
/// ok, or failed when any of its items was dead-lettered). Abandoned records are never done.
/// The last item of a merged group ends each member in the way the group ended.
std::size_t ItemLedger::record_ended(const ItemTrace& trace, Ending ending) {
  std::size_t slots = trace.holds_admission_ ? 1 : 0;
  const auto& ticket = trace.record_;
  bool failed = ending == Ending::dead_letter;
  if (ticket) {
    if (ending == Ending::abandoned) ticket->abandoned = true;
    if (failed) ticket->dead_lettered = true;
    if (ticket->alive.fetch_sub(1, std::memory_order_acq_rel) != 1) return slots;
    if (!ticket->members.empty()) {
      const Ending group = ticket->abandoned.load()       ? Ending::abandoned
                           : ticket->dead_lettered.load() ? Ending::dead_letter
                                                          : ending;
      for (const ItemTrace& member : ticket->members) slots += record_ended(member, group);
      return slots;
    }
    if (ticket->abandoned.load()) return slots;
    failed = ticket->dead_lettered.load();
  } else if (ending == Ending::abandoned) {
    return slots;
  }
  if (ending == Ending::skipped) {
    metrics_.records_skipped.fetch_add(1, std::memory_order_relaxed);
    return slots;
  }
  (failed ? metrics_.records_failed : metrics_.records_ok).fetch_add(1, std::memory_order_relaxed);
  return slots;
}

void ItemLedger::count(std::size_t n, std::size_t slots, Ending ending, NodeStats* at) {
  switch (ending) {
    case Ending::sink: metrics_.succeeded.fetch_add(n, std::memory_order_relaxed); break;
    case Ending::dead_letter: metrics_.dead.fetch_add(n, std::memory_order_relaxed); break;
    case Ending::discarded: metrics_.discarded.fetch_add(n, std::memory_order_relaxed); break;
    case Ending::abandoned: metrics_.abandoned.fetch_add(n, std::memory_order_relaxed); break;
    case Ending::skipped: metrics_.skipped.fetch_add(n, std::memory_order_relaxed); break;
  }
  if (at) at->ended.fetch_add(n, std::memory_order_relaxed);
  // The items are gone before their slots are given back, so a chunk admitted in exchange never
  // counts twice. (If this reaches zero the run may end; the release that follows is harmless.)
  const bool last = alive_.fetch_sub(static_cast<std::int64_t>(n)) == static_cast<std::int64_t>(n);
  admission_.release(slots);
  if (last) notify_if_idle();
}

CommitBatch ItemLedger::take_discarded() {
  std::lock_guard lock(discarded_mutex_);
  CommitBatch out = std::move(discarded_);
  discarded_ = CommitBatch();
  return out;
}

void ItemLedger::notify_if_idle() {
  if (idle_hook_ && (!sources_done_ || sources_done_())) idle_hook_();
}

}  // namespace flowbatch

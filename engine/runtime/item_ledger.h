#pragma once
// The one owner of item bookkeeping. Exactly-once results rest on three counts kept here, and on
// nothing else keeping them by hand:
//   - items alive: the run is over when every item ever made has ended (and the sources are done);
//   - admission slots: pipeline.max_in_flight bounds the items admitted but not yet ended;
//   - records: an input record is done when every item made from it has ended, and durably
//     complete (the state may skip it on resume) when every such item is committed by an output
//     or was discarded on purpose.
// Node kinds never touch an item's trace: they tell the ledger what they did (a copy, a split, an
// end) and the ledger keeps the books.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/runtime/admission.h"
#include "engine/runtime/metrics.h"
#include "engine/runtime/packet.h"
#include "engine/state/record_runs.h"
#include "engine/state/state_store.h"

namespace flowbatch {

/// How an item left the pipeline.
enum class Ending : std::uint8_t {
  sink,         ///< written as a result
  dead_letter,  ///< written to a dead letter
  discarded,    ///< reached an output connected to nothing, or was filtered out
  abandoned,    ///< dropped by a stop; a resumed run does it again
  skipped,      ///< completed by a previous run (resuming)
};

/// What the items of one input record share once there are several of them (a fan-out copied it,
/// a transform split it). A merge makes a ticket for a group instead: its items stand for the
/// `members` (the traces of the items merged), whose records end, and complete, when the group's
/// last item does.
struct RecordTicket {
  std::atomic<int> alive{1};               ///< items of the record that have not ended
  std::atomic<int> uncommitted{1};         ///< items not yet committed by an output (or discarded)
  std::atomic<bool> abandoned{false};      ///< one item was dropped by a stop: never complete
  std::atomic<bool> dead_lettered{false};  ///< one item went to a dead letter: the record failed
  std::vector<ItemTrace> members;          ///< a merged group: what it was made of (empty for a record)
};

/// The items of output writes since its last commit, and what committing them means for their
/// records. Filled on the writer's thread; settled on the commit thread after the data is synced,
/// where commits run one at a time in order: so a record split over several outputs completes
/// exactly when the last of its items is durable, whatever the order of the outputs' commits.
class CommitBatch {
 public:
  /// An item written (or, resuming, found already committed) by the output.
  void add(const Item& item);
  /// An item that ended without an output (discarded on purpose).
  void add_discarded(const Item& item) { add(item); }
  bool empty() const { return alone_.empty() && shared_.empty(); }
  std::size_t size() const { return alone_.records() + shared_.size(); }

  /// On the commit thread: the records this commit completes, and the items it commits whose
  /// records stay incomplete (the output must remember those, so a resumed run that does their
  /// records again does not write them twice).
  void settle(RecordRuns& completed, std::vector<ItemKey>& partial);

 private:
  /// One item of a merged group committed: true when the member's record is now complete.
  static bool commit_member(const ItemTrace& member, RecordRuns& completed);
  struct Shared {
    ItemKey key;
    std::shared_ptr<RecordTicket> ticket;
  };
  RecordRuns alone_;  // items that are their record alone (almost all): the commit completes them
  std::vector<Shared> shared_;
};

/// Keeps the books of every item of one run. Thread-safe.
class ItemLedger {
 public:
  ItemLedger(Admission& admission, Metrics& metrics) : admission_(admission), metrics_(metrics) {}

  /// Called (from any thread) when the last item may just have ended.
  void set_idle_hook(std::function<void()> hook) { idle_hook_ = std::move(hook); }
  /// Whether every source is done (the run is over once nothing is alive, too).
  void set_sources_done(std::function<bool()> done) { sources_done_ = std::move(done); }

  // --- items come -------------------------------------------------------------------------
  /// A source read these records (their `line` set: where each is in the file read, which is how
  /// the state knows it): each holds an admission slot.
  void admit(ItemVector& items, std::uint16_t source);
  /// Decoding: the hash of the record's text, which a resumed run compares.
  static void set_input_hash(Item& item, std::uint64_t hash) { item.trace.input_hash_ = hash; }
  /// Fan-out: a copy of `item` for one more consumer. `branch` (1, 2, ...) tells the copies apart,
  /// so each is its own part of the record in every run.
  Item copy(Item& item, std::size_t branch);
  /// A transform made `outputs[first...]` out of `input` (which it may have changed or moved
  /// from); `input_goes_on` when the input itself also goes on (as a failure). The outputs take
  /// the input's place in its record; with no output and no failure, the input ends, discarded.
  void split(Item& input, const ItemTrace& before, ItemVector& outputs, std::size_t first, bool input_goes_on,
             NodeStats* at);
  /// A kind made `merged` out of `inputs` (all of them, which it no longer passes on): the merged
  /// item stands for their records from now on. Their admission slots are held until it (and
  /// whatever is split or copied from it) has ended; each input's record ends, and completes for
  /// the state, once the merged item's last descendant has ended or been committed. Splitting
  /// the merged item's answer back into several items is an ordinary split().
  void merge(ItemVector& inputs, Item& merged);

  // --- items end --------------------------------------------------------------------------
  void end(const ItemVector& items, Ending ending, NodeStats* at = nullptr);
  void end(const Item& item, Ending ending, NodeStats* at = nullptr);

  std::int64_t alive() const { return alive_.load(); }

  /// With a state: discarded items complete their records through the commit thread (in order
  /// with the outputs' commits). The discards since the last call, to post there.
  void track_discards() { track_discards_ = true; }
  CommitBatch take_discarded();

  // --- what an item is ----------------------------------------------------------------------
  static std::uint16_t source(const Item& item) { return item.trace.source_; }
  static ItemKey key(const Item& item) { return key(item.trace); }
  static ItemKey key(const ItemTrace& t) { return ItemKey{t.source_, t.position_, t.input_hash_, t.part_}; }
  static RecordKey record_key(const Item& item) {
    return RecordKey{item.trace.source_, item.trace.position_, item.trace.input_hash_};
  }
  static bool shares_record(const Item& item) { return item.trace.record_ != nullptr; }
  static const std::shared_ptr<RecordTicket>& ticket(const Item& item) { return ticket(item.trace); }
  static const std::shared_ptr<RecordTicket>& ticket(const ItemTrace& t) { return t.record_; }

 private:
  void created(std::size_t n);
  /// Returns the admission slots the ending frees (the item's own, or a merged group's).
  std::size_t item_ended(const Item& item, Ending ending);
  std::size_t record_ended(const ItemTrace& trace, Ending ending);
  void count(std::size_t n, std::size_t slots, Ending ending, NodeStats* at);
  void notify_if_idle();
  static std::shared_ptr<RecordTicket>& shared_ticket(Item& item);

  Admission& admission_;
  Metrics& metrics_;
  std::atomic<std::int64_t> alive_{0};
  std::function<void()> idle_hook_;
  std::function<bool()> sources_done_;
  bool track_discards_ = false;
  std::mutex discarded_mutex_;
  CommitBatch discarded_;  // guarded by discarded_mutex_
};

}  // namespace flowbatch

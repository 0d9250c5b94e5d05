#pragma once
// When is an input record complete? When every item made from it has ended on purpose (committed
// by a sink or dead letter, or discarded). Most records make one item, which needs no
// bookkeeping; a record copied by a fan-out or split by a transform shares a RecordTicket that
// counts its live items.
#include <atomic>
#include <memory>

#include "engine/state/state_store.h"
#include "flowbatch/item.h"

namespace flowbatch {

struct RecordTicket {
  std::atomic<int> live{1};             ///< items of the record that have not ended yet
  std::atomic<bool> abandoned{false};   ///< one of them was dropped by a stop: never complete
};

/// `item` is about to become `1 + extra` items (a copy, or a transform's outputs).
inline void record_grows(Item& item, int extra) {
  if (extra <= 0) return;
  if (!item.record) item.record = std::make_shared<RecordTicket>();
  item.record->live.fetch_add(extra, std::memory_order_acq_rel);
}

/// An item of the record ended on purpose (committed or discarded): true when that completes it.
inline bool record_completes(const std::shared_ptr<RecordTicket>& ticket) {
  if (!ticket) return true;
  return ticket->live.fetch_sub(1, std::memory_order_acq_rel) == 1 && !ticket->abandoned.load();
}
inline bool record_completes(const Item& item) { return record_completes(item.record); }

/// `item` was dropped by a stop: its record stays incomplete (a resumed run does it again).
inline void record_abandoned(const Item& item) {
  if (item.record) item.record->abandoned = true;
}

inline RecordKey record_key(const Item& item) { return RecordKey{item.source_index, item.line, item.input_hash}; }

}  // namespace flowbatch

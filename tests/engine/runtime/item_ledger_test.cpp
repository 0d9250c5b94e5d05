// The ledger's merge: N items become one that stands for their records. Each record ends when
// the last item made from the merged one ends, completes for the state when the last of them is
// committed, and its admission slot is held until then.
#include <doctest/doctest.h>

#include "engine/runtime/item_ledger.h"

using namespace flowbatch;

namespace {

struct Books {
  Metrics metrics;
  Admission admission{16};  // chunks of one item: every slot released opens one chunk
  ItemLedger ledger{admission, metrics};
  long slots_released = 0;
  Books() {
    admission.set_opener([this](long chunks) { slots_released += chunks; });
  }

  /// `n` records of source 0, lines 1..n, admitted.
  ItemVector admit(std::size_t n) {
    ItemVector items(n);
    for (std::size_t i = 0; i < n; ++i) {
      items[i].line = i + 1;
      ItemLedger::set_input_hash(items[i], 100 + i);
    }
    ledger.admit(items, 0);
    return items;
  }
  std::uint64_t records_done() const { return metrics.records_ok.load() + metrics.records_failed.load(); }
};

std::vector<std::uint64_t> lines_of(const RecordRuns& runs) {
  std::vector<std::uint64_t> lines;
  for (const auto& run : runs.runs())
    for (std::size_t i = 0; i < run.count; ++i) lines.push_back(run.first_line + i);
  return lines;
}

}  // namespace

TEST_CASE("a merged item ends its inputs' records, and frees their slots, when it ends") {
  Books b;
  ItemVector inputs = b.admit(3);
  Item merged;
  b.ledger.merge(inputs, merged);
  CHECK(b.ledger.alive() == 1);
  CHECK(b.records_done() == 0);
  CHECK(b.slots_released == 0);  // the records are not done: their slots stay taken
  b.ledger.end(merged, Ending::sink);
  CHECK(b.ledger.alive() == 0);
  CHECK(b.metrics.records_ok.load() == 3);
  CHECK(b.metrics.succeeded.load() == 1);  // one item was written
  CHECK(b.slots_released == 3);
}

TEST_CASE("an answer split back from a merged item ends the records with its last part") {
  Books b;
  ItemVector inputs = b.admit(3);
  Item merged;
  b.ledger.merge(inputs, merged);
  const ItemTrace before = merged.trace;
  ItemVector parts(3);
  b.ledger.split(merged, before, parts, 0, false, nullptr);
  CHECK(b.ledger.alive() == 3);
  b.ledger.end(parts[0], Ending::sink);
  b.ledger.end(parts[1], Ending::sink);
  CHECK(b.records_done() == 0);
  CHECK(b.slots_released == 0);
  b.ledger.end(parts[2], Ending::sink);
  CHECK(b.metrics.records_ok.load() == 3);
  CHECK(b.slots_released == 3);
  CHECK(b.ledger.alive() == 0);
}

TEST_CASE("one part of a merged group in a dead letter fails every record merged into it") {
  Books b;
  ItemVector inputs = b.admit(2);
  Item merged;
  b.ledger.merge(inputs, merged);
  ItemVector parts(2);
  b.ledger.split(merged, ItemTrace(merged.trace), parts, 0, false, nullptr);
  b.ledger.end(parts[0], Ending::dead_letter);
  b.ledger.end(parts[1], Ending::sink);
  CHECK(b.metrics.records_failed.load() == 2);
  CHECK(b.metrics.records_ok.load() == 0);
}

TEST_CASE("a merged group stopped midway completes none of its records") {
  Books b;
  ItemVector inputs = b.admit(2);
  Item merged;
  b.ledger.merge(inputs, merged);
  b.ledger.end(merged, Ending::abandoned);
  CHECK(b.records_done() == 0);
  CHECK(b.slots_released == 2);  // the slots go back all the same
  CHECK(b.ledger.alive() == 0);
}

TEST_CASE("each merged record completes for the state once the merged item's last part is committed") {
  Books b;
  ItemVector inputs = b.admit(3);
  Item merged;
  b.ledger.merge(inputs, merged);
  ItemVector parts(2);
  b.ledger.split(merged, ItemTrace(merged.trace), parts, 0, false, nullptr);

  CommitBatch first;
  first.add(parts[0]);
  RecordRuns completed;
  std::vector<ItemKey> partial;
  first.settle(completed, partial);
  CHECK(completed.empty());
  REQUIRE(partial.size() == 1);  // written, its records not complete: remembered for a resume
  CHECK(partial[0].part == ItemLedger::key(parts[0]).part);

  CommitBatch second;
  second.add(parts[1]);
  partial.clear();
  second.settle(completed, partial);
  CHECK(partial.empty());
  CHECK(lines_of(completed) == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(completed.hashes() == std::vector<std::uint64_t>{100, 101, 102});
}

TEST_CASE("a merged record that was also copied elsewhere completes only when both are committed") {
  Books b;
  ItemVector inputs = b.admit(2);
  Item copy = b.ledger.copy(inputs[1], 1);  // record 2 goes two ways (a fan-out)
  Item merged;
  b.ledger.merge(inputs, merged);

  CommitBatch group;
  group.add(merged);
  RecordRuns completed;
  std::vector<ItemKey> partial;
  group.settle(completed, partial);
  CHECK(lines_of(completed) == std::vector<std::uint64_t>{1});  // record 2 waits for its copy
  CHECK(partial.size() == 1);

  CommitBatch other;
  other.add(copy);
  RecordRuns rest;
  partial.clear();
  other.settle(rest, partial);
  CHECK(lines_of(rest) == std::vector<std::uint64_t>{2});
  CHECK(partial.empty());
}

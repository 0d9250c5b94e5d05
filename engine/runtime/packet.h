#pragma once
#include <memory>
#include <vector>

#include "flowbatch/item.h"

namespace flowbatch {

using ItemVector = std::vector<Item>;

/// The message on every user-visible edge: a group of items, or a clock tick.
///
/// Items travel in groups (a chunk read from a source, a batch, the results of one request) so the
/// per-message cost of the flow graph is paid per group, not per item. The engine never hands one
/// group to two consumers (fan-out copies it), so whoever receives a packet owns its items.
struct Packet {
  std::shared_ptr<ItemVector> items;  ///< null for a tick

  bool is_tick() const { return !items; }
  static Packet tick() { return Packet{}; }
  static Packet of(ItemVector v) { return Packet{std::make_shared<ItemVector>(std::move(v))}; }
};

}  // namespace flowbatch

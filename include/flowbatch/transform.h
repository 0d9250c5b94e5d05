#pragma once
#include "flowbatch/item.h"

namespace flowbatch {

/// Where a transform sends the items it produces.
class ItemOutput {
 public:
  virtual ~ItemOutput() = default;
  virtual void emit(Item item) = 0;
};

/// A configured transform ([transforms.NAME]): one item in, zero or more items out.
class Transform {
 public:
  virtual ~Transform() = default;
  /// Emits `item` (usually moved, after changing it) and/or new items through `out`; an item that
  /// is not emitted is dropped on purpose (filtered). Called concurrently from worker threads
  /// unless the type is registered with `concurrent = false`.
  ///
  /// Throwing is how a transform rejects an item: items already emitted go on, and `item`, as
  /// apply() left it, goes to the node's `error` port with the exception's message.
  virtual void apply(Item& item, ItemOutput& out) = 0;
};

}  // namespace flowbatch

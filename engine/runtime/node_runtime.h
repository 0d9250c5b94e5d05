#pragma once
#include <chrono>
#include <optional>

#include "engine/runtime/flow.h"
#include "engine/runtime/packet.h"

namespace flowbatch {

/// A node kind's running instance, built from its NodeConfig by NodeKind::build.
///
/// Lifecycle, all on the main thread except the graph's own bodies:
///   build → start() → (graph runs; items and ticks arrive at input()) → finish().
class NodeRuntime {
 public:
  virtual ~NodeRuntime() = default;
  /// Where inputs (and ticks, if wanted) arrive; nullptr for nodes without inputs.
  virtual flow::receiver<Packet>* input() = 0;
  /// Ticks drive time-based work (batch time-outs, periodic flushes): the period the node needs.
  virtual std::optional<std::chrono::milliseconds> tick_interval() const { return std::nullopt; }
  /// Opens files and starts reading. Throws std::runtime_error (with context) on failure.
  virtual void start() {}
  /// After the graph is idle: flush and close. Throws std::runtime_error on I/O failure.
  virtual void finish() {}
};

}  // namespace flowbatch

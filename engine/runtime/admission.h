#pragma once
#include <atomic>
#include <cstddef>
#include <functional>

namespace flowbatch {

/// Bounds the items in flight (pipeline.max_in_flight) with a tbb::flow limiter_node that counts
/// source chunks of a fixed size. Terminal nodes release items one by one; every `chunk_size`
/// released items open the limiter by one chunk. A source's last, short chunk is credited for its
/// missing items at once, so the books always balance.
///
/// A source's input_node holds one more chunk, read and waiting at the limiter, so the limiter
/// admits one chunk less than fits: at most max_in_flight items exist at once (2 when
/// max_in_flight is 1).
class Admission {
 public:
  explicit Admission(std::size_t max_in_flight);

  std::size_t chunk_size() const { return chunk_size_; }
  /// The limiter's threshold, in chunks.
  std::size_t threshold() const { return threshold_; }

  /// Where freed chunks go (the limiter's decrementer). Set once, before the graph runs.
  void set_opener(std::function<void(long)> open_chunks) { open_ = std::move(open_chunks); }

  /// `count` admitted items have ended (at a sink, a dead letter, or dropped on purpose).
  void release(std::size_t count);
  /// A chunk of `count` < chunk_size items was admitted: credit the difference now.
  void short_chunk(std::size_t count);

 private:
  std::size_t chunk_size_;
  std::size_t threshold_;
  std::atomic<std::uint64_t> released_{0};
  std::function<void(long)> open_;
};

}  // namespace flowbatch

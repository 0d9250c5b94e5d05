#include "engine/runtime/admission.h"

#include <algorithm>

namespace flowbatch {

Admission::Admission(std::size_t max_in_flight) {
  // Chunks of up to 256 items keep the graph's per-message cost low; at least 16 chunks fit in
  // the budget so that admission stays smooth when items finish out of order.
  chunk_size_ = std::clamp<std::size_t>(max_in_flight / 16, 1, 256);
  threshold_ = std::max<std::size_t>(1, max_in_flight / chunk_size_ - 1);  // -1: the chunk waiting at the gate
}

void Admission::release(std::size_t count) {
  if (count == 0) return;
  // Chunks to open = how many multiples of chunk_size the running total crossed; exact and
  // lock-free whatever the interleaving of releasing threads.
  const std::uint64_t before = released_.fetch_add(count, std::memory_order_acq_rel);
  const std::uint64_t after = before + count;
  const long chunks = static_cast<long>(after / chunk_size_ - before / chunk_size_);
  if (chunks > 0 && open_) open_(chunks);
}

void Admission::short_chunk(std::size_t count) {
  if (count < chunk_size_) release(chunk_size_ - count);
}

}  // namespace flowbatch

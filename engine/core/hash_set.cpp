#include "engine/core/hash_set.h"

namespace flowbatch {

bool ConcurrentHashSet::insert_into(std::vector<std::uint64_t>& slots, std::uint64_t hash) {
  const std::size_t mask = slots.size() - 1;
  for (std::size_t i = (hash >> 6) & mask;; i = (i + 1) & mask) {
    if (slots[i] == hash) return false;
    if (slots[i] == 0) {
      slots[i] = hash;
      return true;
    }
  }
}

bool ConcurrentHashSet::insert(std::uint64_t hash) {
  if (hash == 0) hash = 1;
  Shard& shard = shards_[hash & 63];  // the low bits pick the shard, the rest the slot
  std::lock_guard lock(shard.mutex);
  if (shard.slots.empty()) shard.slots.assign(256, 0);
  if ((shard.used + 1) * 2 > shard.slots.size()) {  // keep it at most half full: short probes
    std::vector<std::uint64_t> bigger(shard.slots.size() * 2, 0);
    for (std::uint64_t h : shard.slots)
      if (h) insert_into(bigger, h);
    shard.slots.swap(bigger);
  }
  if (!insert_into(shard.slots, hash)) return false;
  ++shard.used;
  return true;
}

std::size_t ConcurrentHashSet::size() const {
  std::size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.used;
  }
  return n;
}

}  // namespace flowbatch

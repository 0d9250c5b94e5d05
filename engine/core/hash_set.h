#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

namespace flowbatch {

/// A set of 64-bit hashes that many threads insert into at once: 64 shards, each an open-addressing
/// table (8 bytes a slot, at most half full) behind its own lock. For remembering millions of ids
/// in little memory.
class ConcurrentHashSet {
 public:
  /// Adds `hash`; false when it was already there.
  bool insert(std::uint64_t hash);
  std::size_t size() const;

 private:
  struct Shard {
    mutable std::mutex mutex;
    std::vector<std::uint64_t> slots;  // 0 marks a free slot (a hash of 0 is stored as 1)
    std::size_t used = 0;
  };
  static bool insert_into(std::vector<std::uint64_t>& slots, std::uint64_t hash);
  std::array<Shard, 64> shards_;
};

}  // namespace flowbatch

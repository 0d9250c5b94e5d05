#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace flowbatch {

/// Mixes two 64-bit values (splitmix64's finaliser over their combination).
constexpr std::uint64_t hash_combine(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a + 0x9e3779b97f4a7c15ULL + (b << 6) + (b >> 2);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// A stable 64-bit hash: the same on every machine and run (little-endian x86-64 and ARM alike),
/// so it can name things on disk and make simulated behaviour reproducible. Eight bytes at a time
/// (it runs over every input line of a resumable run). Not cryptographic.
inline std::uint64_t stable_hash(std::string_view data, std::uint64_t seed = 0) {
  constexpr std::uint64_t kMul = 0x9fb21c651e98df25ULL;
  std::uint64_t h = seed ^ (0xcbf29ce484222325ULL + data.size() * kMul);
  const char* p = data.data();
  std::size_t n = data.size();
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    h = (h ^ (word * kMul)) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t tail = 0;
    std::memcpy(&tail, p, n);
    h = (h ^ (tail * kMul)) * kMul;
  }
  return hash_combine(h, seed);
}

/// The 16 lower-case hex digits of a hash (cheaper than a formatting library on hot paths).
inline std::string hex16(std::uint64_t h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = kDigits[h & 0xf];
  return out;
}

/// A hash mapped to [0, 1).
constexpr double unit_interval(std::uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

}  // namespace flowbatch

#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace flowbatch {

/// A stable 64-bit hash (FNV-1a with a final avalanche): the same on every machine and run, so
/// it can name things on disk and make simulated behaviour reproducible. Not cryptographic.
constexpr std::uint64_t stable_hash(std::string_view data, std::uint64_t seed = 0) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ (seed * 0x9e3779b97f4a7c15ULL);
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/// Mixes two hashes (splitmix64 finaliser over their combination).
constexpr std::uint64_t hash_combine(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a + 0x9e3779b97f4a7c15ULL + (b << 6) + (b >> 2);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
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

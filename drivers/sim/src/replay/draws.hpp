// draws.hpp: the simulated network's seeded draws, from a generator of its
// own (mt19937_64, seeded with the world's seed). Its output is fixed by
// the standard and the mappings below are ours, so a seed draws the same
// on every standard library (<random>'s distributions are each library's).
// The network draws under its lock, in an order its seed fixes. And
// SeededBytes, the byte stream a library takes in place of its randomness
// (VirtualNet::seeded_bytes), from a second generator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>

namespace duet::sim::detail {

class Draws {
 public:
  explicit Draws(std::uint64_t seed) : rng_(seed) {}

  /// True with probability `p`; a `p` of 0 or less draws nothing.
  bool draw(double p) {
    if (p <= 0.0) return false;
    // The top 53 bits as a double in [0, 1).
    return static_cast<double>(rng_() >> 11) * 0x1.0p-53 < p;
  }

  /// A draw in [0, n), n > 0, by the remainder: its bias (at most n / 2^64)
  /// is far below anything a test observes.
  std::uint64_t below(std::uint64_t n) { return rng_() % n; }

 private:
  std::mt19937_64 rng_;
};

/// Bytes fixed by the world's seed, apart from Draws: a generator seeded
/// with the seed mixed by SplitMix64's finalizer and a constant of its own,
/// so its stream is not Draws' stream shifted. Each word gives 8 bytes, low
/// byte first (the same on every machine), a fill's last word its first
/// bytes (the rest dropped).
class SeededBytes {
 public:
  explicit SeededBytes(std::uint64_t seed) : rng_(mix(seed ^ 0x746c732d62797465ULL)) {}

  void fill(std::span<unsigned char> out) {
    while (!out.empty()) {
      const std::uint64_t w = rng_();
      const std::size_t n = out.size() < 8 ? out.size() : 8;
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(w >> (8 * i));
      out = out.subspan(n);
    }
  }

 private:
  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::mt19937_64 rng_;
};

}  // namespace duet::sim::detail

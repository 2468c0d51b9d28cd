// draws.hpp: the simulated network's seeded draws, from a generator of its
// own (mt19937_64, seeded with the world's seed). Its output is fixed by
// the standard and the mappings below are ours, so a seed draws the same
// on every standard library (<random>'s distributions are each library's).
// The network draws under its lock, in an order its seed fixes.
#pragma once

#include <cstdint>
#include <random>

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

}  // namespace duet::sim::detail

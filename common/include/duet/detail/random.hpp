// duet/detail/random.hpp: the per-thread random source of every random
// choice a duet operation makes on the calling thread (select's case
// order; a worker's steal victims use the worker's own generator, seeded
// from the same RuntimeConfig::seed).
//
// A thread starts with a seed from the clock and its stack address. A worker
// of a runtime with RuntimeConfig::seed reseeds its thread from that seed
// and its index when it starts, so a single-worker runtime with a fixed seed
// makes the same choices in the same order on every run.
#pragma once

#include "duet/export.hpp"

#include <cstdint>

namespace duet::detail {

/// The next 64 random bits of the calling thread's generator (wyrand).
DUET_API std::uint64_t random_u64() noexcept;
/// Restarts the calling thread's generator from `seed`.
DUET_API void seed_thread_random(std::uint64_t seed) noexcept;
/// Uniform in [0, n) (Lemire's multiply-shift; the bias is < n / 2^64).
inline std::uint32_t random_below(std::uint32_t n) noexcept {
  return static_cast<std::uint32_t>((static_cast<__uint128_t>(random_u64()) * n) >> 64);
}
/// A well-mixed 64-bit value of (seed, stream): splitmix64's finaliser.
constexpr std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace duet::detail

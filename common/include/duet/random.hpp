// duet/random.hpp: random numbers for user code that a simulation replays:
// a jittered back-off, a random peer, a shuffled list.
//
// Every draw comes from the calling thread's generator (wyrand, the one
// duet's own random choices use): a worker of a runtime with
// RuntimeConfig::seed starts it from that seed and the worker's index, and
// a duet::sim World also seeds the thread that builds it (the test's), so
// inside a world the same seed draws the same numbers in the same order.
// Elsewhere a thread starts it from its clock and its stack address: not
// a cryptographic source (use OpenSSL's RAND_bytes for keys and tokens).
//
// Example (coroutine):
//   auto backoff = std::chrono::milliseconds(100);
//   for (int attempt = 0; attempt < 5; ++attempt) {
//     if (co_await work() == 0) break;
//     co_await duet::sleep(duet::random_duration(backoff / 2, backoff));
//     backoff *= 2;
//   }
//   std::vector<int> peers{1, 2, 3};
//   std::shuffle(peers.begin(), peers.end(), duet::Random{});
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "duet/detail/random.hpp"

namespace duet {

/// A UniformRandomBitGenerator over the calling thread's generator (for
/// the standard distributions and std::shuffle; those distributions are
/// each standard library's own, so the helpers below are the ones that
/// draw the same on every library).
struct Random {
  using result_type = std::uint64_t;
  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }
  result_type operator()() const noexcept { return detail::random_u64(); }
};

/// 64 random bits.
inline std::uint64_t random_u64() noexcept {
  return detail::random_u64();
}

/// Uniform in [0, n) (Lemire's multiply-shift; the bias is below n / 2^64).
/// Throws std::invalid_argument for n == 0.
inline std::uint64_t random_below(std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("duet::random_below: an empty range (n == 0)");
  return static_cast<std::uint64_t>((static_cast<__uint128_t>(detail::random_u64()) * n) >> 64);
}

/// Uniform in [lo, hi], both included. Throws std::invalid_argument when
/// lo > hi.
inline std::int64_t random_between(std::int64_t lo, std::int64_t hi) {
  if (lo > hi) throw std::invalid_argument("duet::random_between: lo > hi");
  const auto span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  if (span == std::numeric_limits<std::uint64_t>::max())
    return static_cast<std::int64_t>(random_u64());
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + random_below(span + 1));
}

/// Uniform in [0, 1): the top 53 bits.
inline double random_unit() noexcept {
  return static_cast<double>(detail::random_u64() >> 11) * 0x1.0p-53;
}

/// True with probability `p` (false for p <= 0, true for p >= 1).
inline bool random_chance(double p) noexcept {
  return random_unit() < p;
}

/// Uniform in [lo, hi], both included, in `lo`'s units. Throws
/// std::invalid_argument when lo > hi.
template <class Rep, class Period>
std::chrono::duration<Rep, Period> random_duration(std::chrono::duration<Rep, Period> lo,
                                                   std::chrono::duration<Rep, Period> hi) {
  if (lo > hi) throw std::invalid_argument("duet::random_duration: lo > hi");
  return std::chrono::duration<Rep, Period>(static_cast<Rep>(random_between(
      static_cast<std::int64_t>(lo.count()), static_cast<std::int64_t>(hi.count()))));
}

}  // namespace duet

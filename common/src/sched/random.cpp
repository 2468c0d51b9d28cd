// random.cpp: the per-thread generator behind duet/detail/random.hpp.
#include "duet/detail/random.hpp"

#include <chrono>

namespace duet::detail {

namespace {
std::uint64_t entropy_seed() noexcept {
  int local = 0;
  auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return t ^ reinterpret_cast<std::uintptr_t>(&local) ^ 0x9e3779b97f4a7c15ull;
}
thread_local std::uint64_t tl_state = entropy_seed();
}  // namespace

std::uint64_t random_u64() noexcept {
  tl_state += 0xa0761d6478bd642full;
  __uint128_t m = static_cast<__uint128_t>(tl_state) * (tl_state ^ 0xe7037ed1a0b428dbull);
  return static_cast<std::uint64_t>(m >> 64) ^ static_cast<std::uint64_t>(m);
}

void seed_thread_random(std::uint64_t seed) noexcept {
  tl_state = seed;
}

}  // namespace duet::detail

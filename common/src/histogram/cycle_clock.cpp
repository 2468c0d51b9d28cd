// cycle_clock.cpp: the cycle clock's calibration against steady_clock
// (cycle_clock.hpp).
#include "cycle_clock.hpp"

#include <mutex>
#include <thread>

namespace duet::detail {
namespace {

struct Reading {
  std::uint64_t cycles;
  std::chrono::steady_clock::time_point at;
};

Reading read_both() noexcept {
  // The cycle count taken halfway through the clock read: the pair's
  // error is the clock read's length, not twice it.
  const std::uint64_t c0 = read_cycles();
  const auto t = std::chrono::steady_clock::now();
  const std::uint64_t c1 = read_cycles();
  return Reading{c0 + (c1 - c0) / 2, t};
}

std::once_flag g_once;
Reading g_first{};

// At least this far from the first reading before a ratio is trusted: a
// clock read's jitter (a microsecond or so) is then under 0.05%.
constexpr std::chrono::milliseconds min_span{4};

}  // namespace

void start_cycle_clock() noexcept {
  std::call_once(g_once, [] { g_first = read_both(); });
}

double seconds_per_cycle() noexcept {
  start_cycle_clock();
  Reading now = read_both();
  if (now.at - g_first.at < min_span) {
    std::this_thread::sleep_for(min_span - (now.at - g_first.at));
    now = read_both();
  }
  const double ns = std::chrono::duration<double, std::nano>(now.at - g_first.at).count();
  const auto cycles = static_cast<double>(now.cycles - g_first.cycles);
  return cycles > 0 ? ns * 1e-9 / cycles : 1e-9;
}

}  // namespace duet::detail

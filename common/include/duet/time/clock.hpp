// duet/time/clock.hpp: the one clock every duet timer reads.
//
// duet::Clock is std::chrono::steady_clock, except where a runtime built
// with RuntimeConfig::clock = ClockMode::paused or ClockMode::manual has
// its test clock, which moves only when the runtime auto-advances it
// (paused: every worker idle and only timers pending) or when
// Runtime::advance moves it (docs/time.md). Each such runtime has its own:
// Clock::now() on a runtime's worker reads that runtime's clock (real time
// for a runtime without one); off every worker it reads the test clock
// when exactly one lives, else real time (Runtime::now() reads a given
// runtime's clock from anywhere). Instants are steady_clock's time points
// in every case, so they mix with code that reads steady_clock itself
// (which sees real time).
//
// Cost while no test clock lives: one relaxed load of a process-wide word
// and a branch that is not taken, before the steady_clock read.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace duet {

namespace detail {
/// How many runtimes with a test clock live; 0: every Clock::now() reads
/// steady_clock. Written by time/test_clock.cpp.
DUET_API extern std::atomic<int> test_clocks_live;
/// The time of the test clock the calling thread reads (see the header
/// comment), in steady_clock nanoseconds, or 0 where it reads real time (a
/// test clock never reads 0: it starts at the real time of its runtime's
/// construction).
[[nodiscard]] DUET_API std::int64_t test_clock_now_ns() noexcept;
}  // namespace detail

struct Clock {
  using base = std::chrono::steady_clock;
  using rep = base::rep;
  using period = base::period;
  using duration = base::duration;
  using time_point = base::time_point;
  static constexpr bool is_steady = true;

  static time_point now() noexcept {
    // Relaxed: the count changes only at a test runtime's construction and
    // destruction, ordered before its workers start and after they stop;
    // a thread off the runtime racing either reads one clock or the other.
    if (detail::test_clocks_live.load(std::memory_order_relaxed) != 0) [[unlikely]] {
      if (const std::int64_t t = detail::test_clock_now_ns(); t != 0) {
        return time_point(duration(t));
      }
    }
    return base::now();
  }
};

using Instant = Clock::time_point;

}  // namespace duet

// duet/time/clock.hpp: the one clock every duet timer reads.
//
// duet::Clock is std::chrono::steady_clock, unless a runtime built with
// RuntimeConfig::clock = ClockMode::paused or ClockMode::manual lives: then
// Clock::now() reads that runtime's test clock, which moves only when the
// runtime auto-advances it (paused: every worker idle and only timers
// pending) or when Runtime::advance moves it (docs/time.md). Instants are
// steady_clock's time points in both cases, so they mix with code that
// reads steady_clock itself (which sees real time).
//
// Cost with no test clock: one relaxed load of a process-wide word and a
// branch that is not taken, before the steady_clock read.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace duet {

namespace detail {
/// The test clock's time in steady_clock nanoseconds, or 0 when no test
/// clock is installed (a test clock never reads 0: it starts at the real
/// time of its runtime's construction). Written by time/test_clock.cpp.
DUET_API extern std::atomic<std::int64_t> test_clock_ns;
}  // namespace detail

struct Clock {
  using base = std::chrono::steady_clock;
  using rep = base::rep;
  using period = base::period;
  using duration = base::duration;
  using time_point = base::time_point;
  static constexpr bool is_steady = true;

  static time_point now() noexcept {
    // Relaxed: the test clock is set before the timers it fires wake their
    // tasks; a wake-up is a release/acquire hand-over, so a woken task
    // reads the new time. With no test clock the word never changes.
    const std::int64_t t = detail::test_clock_ns.load(std::memory_order_relaxed);
    if (t != 0) [[unlikely]] {
      return time_point(duration(t));
    }
    return base::now();
  }
};

using Instant = Clock::time_point;

}  // namespace duet

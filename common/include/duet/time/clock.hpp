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
//
// It is also the one place where a deadline is computed from a duration:
// deadline_after(d) (below) saturates instead of overflowing, and
// Instant::max() is the deadline that never passes.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>
#include <utility>

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

// ---- deadlines from durations ----------------------------------------------
//
// Every deadline duet computes from a duration (sleep(d), timeout(d, op),
// call_after, DelayQueue::insert and reset, interval, a token's
// with_timeout, Runtime::drain) is deadline_after(d): now + d, saturated at
// the ends of Instant's range instead of overflowing (an overflow is
// undefined behaviour, and in practice made a huge duration a deadline long
// past, which fired at once). The duration is first brought to nanoseconds
// with the same saturation: hours::max() or seconds::max() do not fit.
//
// Instant::max() is the deadline that never passes. Every duet timer takes
// it as "no deadline" and arms nothing for it: a Sleep stays pending, a
// Timeout never fires, a call_after never runs, a DelayQueue entry never
// expires, a token has no deadline (docs/sync.md, "Timers"). A
// negative duration, however large, keeps its meaning: a deadline already
// passed (at worst Instant::min()).

/// `d` in Clock::duration (nanoseconds), saturated at that type's min and
/// max where a duration_cast would overflow. A floating-point duration's
/// infinities saturate too, and NaN gives max() (never).
template <class Rep, class Period>
constexpr Clock::duration saturating_duration(std::chrono::duration<Rep, Period> d) noexcept {
  using Ns = Clock::duration;
  using Lim = std::numeric_limits<Ns::rep>;
  using PerNs = std::ratio_divide<Period, Ns::period>;  // nanoseconds in one unit of d
  if constexpr (std::is_integral_v<Rep> && PerNs::den == 1) {
    // A whole number of nanoseconds per unit: bound the count, then multiply.
    constexpr Ns::rep hi = Lim::max() / PerNs::num;
    constexpr Ns::rep lo = Lim::min() / PerNs::num;
    if (std::cmp_greater(d.count(), hi)) return Ns::max();
    if (std::cmp_less(d.count(), lo)) return Ns::min();
    return Ns(static_cast<Ns::rep>(d.count()) * PerNs::num);
  } else if constexpr (std::is_integral_v<Rep> && PerNs::num == 1 &&
                       sizeof(Rep) <= sizeof(Ns::rep)) {
    // Finer than a nanosecond: a division, which cannot overflow.
    return std::chrono::duration_cast<Ns>(d);
  } else {
    // A floating-point count, or an uneven ratio: bounded in long double.
    constexpr long double past_max = 0x1p63L;  // 2^63: the first value past Lim::max()
    const long double ns = static_cast<long double>(d.count()) * PerNs::num / PerNs::den;
    if (!(ns < past_max)) return Ns::max();  // NaN included
    if (!(ns > -past_max)) return Ns::min();
    return Ns(static_cast<Ns::rep>(ns));
  }
}

/// `t + d`, saturated at Instant::min() and Instant::max() (see above). A
/// duration at either end of Clock::duration's range (where a larger one
/// saturates to) stands for every duration beyond it: `t` plus
/// nanoseconds::max() is Instant::max() whatever `t`, and plus
/// nanoseconds::min() is Instant::min().
template <class Rep, class Period>
constexpr Instant saturating_add(Instant t, std::chrono::duration<Rep, Period> d) noexcept {
  using Lim = std::numeric_limits<Clock::rep>;
  const Clock::rep a = t.time_since_epoch().count();
  const Clock::rep b = saturating_duration(d).count();
  if (b == Lim::max() || (b > 0 && a > Lim::max() - b)) return Instant::max();
  if (b == Lim::min() || (b < 0 && a < Lim::min() - b)) return Instant::min();
  return Instant(Clock::duration(a + b));
}

/// The deadline `d` from now: Clock::now() + d, saturated (see above).
template <class Rep, class Period>
Instant deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  return saturating_add(Clock::now(), d);
}

}  // namespace duet

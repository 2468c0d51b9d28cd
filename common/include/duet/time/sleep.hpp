// duet/time/sleep.hpp: sleeping as a poll future.
//
// Example (coroutine):
//   co_await duet::sleep(10ms);                          // coroutine
//   duet::wait(duet::sleep_until(duet::Clock::now() + 1s));  // fiber, or a plain thread
//
// A Sleep polled on a worker registers an intrusive entry (inside the Sleep:
// no allocation) on that worker's hierarchical timing wheel; the worker
// fires it at the end of a tick or when its park times out, and the task is
// woken through its Waker. Destroying the Sleep (cancellation, a timeout
// that lost, a select that chose another case) removes the entry, from any
// thread. Polled outside any runtime, the entry goes to a process-wide
// fallback wheel, whose loop runs on a blocking-pool thread while a timer
// waits there.
//
// A timer never fires early: deadlines are rounded up to the wheel's tick
// (1024 ns) and compared with a clock read after the deadline passed. It may
// fire late by up to one tick of the worker's work (tick_budget polls) when
// the worker is busy.
//
// The deadline of sleep(d) is computed when sleep() is called (like
// std::this_thread::sleep_for), saturated: a duration too large for the
// clock (nanoseconds::max(), hours::max()) gives Instant::max(), the
// deadline that never passes (duet/time/clock.hpp, deadline_after). Such a
// Sleep arms no timer and stays pending: it never completes, and loses any
// select or race to a case that can. A negative duration is a deadline
// already past. The first poll reads the clock once: a deadline already
// past completes at once instead of waiting for the wheel's next tick
// (docs/performance-log.md, "A deadline already past").
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>

#include "duet/poll.hpp"
#include "duet/sync/detail/wait_list.hpp"
#include "duet/time/clock.hpp"
#include "duet/waker.hpp"

namespace duet {

namespace detail {

class TimerWheel;

/// The intrusive entry of one pending timer.
struct TimerEntry {
  enum : std::uint8_t { idle = 0, registered = 1, fired = 2 };
  TimerEntry* next = nullptr;
  TimerEntry** pprev = nullptr;
  std::uint64_t tick = 0;  // deadline in wheel ticks, rounded up
  Waker waker;
  TimerWheel* wheel = nullptr;
  std::atomic<std::uint8_t> state{idle};
  std::uint8_t level = 0;
  std::uint8_t slot = 0;
};

/// Wheel ticks: steady_clock nanoseconds >> tick_shift (1024 ns a tick).
inline constexpr unsigned tick_shift = 10;
inline std::uint64_t tick_ceil(Instant t) noexcept {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  if (ns <= 0) return 0;
  return (static_cast<std::uint64_t>(ns) + ((1u << tick_shift) - 1)) >> tick_shift;
}

/// First poll: registers `e` on the calling worker's wheel (or the
/// fallback). False when the deadline has already passed (nothing is
/// registered then).
DUET_API bool timer_register(TimerEntry& e, Context& cx);
/// Later polls: true once fired; otherwise refreshes the waker.
DUET_API bool timer_repoll(TimerEntry& e, Context& cx);
/// Registers `e` on the process-wide fallback wheel whatever the calling
/// thread (a timer that must outlive any runtime: a token's deadline). False
/// when the deadline has already passed.
DUET_API bool timer_register_process(TimerEntry& e, const Waker& w);
/// Removes a registered entry (any thread).
DUET_API void timer_cancel(TimerEntry& e) noexcept;

}  // namespace detail

/// The poll future of sleep / sleep_until. Not movable once polled (its
/// entry is linked into a wheel).
class [[nodiscard]] Sleep {
 public:
  explicit Sleep(Instant deadline) noexcept : deadline_(deadline) {
    e_.tick = detail::tick_ceil(deadline);
  }
  Sleep(Sleep&& o) noexcept : deadline_(o.deadline_) {
    // Relaxed: under the wheel lock, or our own unregistered entry.
    if (o.e_.state.load(std::memory_order_relaxed) == detail::TimerEntry::registered) {
      detail::moved_while_linked();  // says what happened, then aborts
    }
    e_.tick = o.e_.tick;
    e_.state.store(o.e_.state.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  Sleep& operator=(Sleep&&) = delete;
  ~Sleep() {
    // Acquire: a notifier that completed this waiter wrote into it (moved
    // its waker out) before its release store; those writes must
    // happen-before the node's members are destroyed here.
    if (e_.state.load(std::memory_order_acquire) == detail::TimerEntry::registered) {
      detail::timer_cancel(e_);
    }
  }

  Poll<void> poll(Context& cx) {
    // Acquire: pairs with the firing wheel's release store.
    switch (e_.state.load(std::memory_order_acquire)) {
      case detail::TimerEntry::fired:
        return ready();
      case detail::TimerEntry::registered:
        return detail::timer_repoll(e_, cx) ? ready() : Poll<void>(pending);
      default:
        // Instant::max() never passes: no timer is armed, and no waker kept
        // (nothing will wake it).
        if (deadline_ == Instant::max()) return pending;
        // A deadline already past (sleep(0), timeout(0ns, op)) is decided
        // now: the wheel would only see it at its next tick.
        if (Clock::now() >= deadline_ || !detail::timer_register(e_, cx)) {
          // Relaxed: under the wheel lock, or our own unregistered entry.
          e_.state.store(detail::TimerEntry::fired, std::memory_order_relaxed);
          return ready();
        }
        return pending;
    }
  }

  /// Has it fired (or was its deadline already past when first polled)?
  [[nodiscard]] bool is_elapsed() const noexcept {
    // Acquire: as poll().
    return e_.state.load(std::memory_order_acquire) == detail::TimerEntry::fired;
  }
  [[nodiscard]] Instant deadline() const noexcept { return deadline_; }

 private:
  Instant deadline_;
  detail::TimerEntry e_;
};

inline Sleep sleep_until(Instant deadline) noexcept {
  return Sleep(deadline);
}
template <class Rep, class Period>
Sleep sleep(std::chrono::duration<Rep, Period> d) noexcept {
  return Sleep(deadline_after(d));
}

}  // namespace duet

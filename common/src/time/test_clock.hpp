// test_clock.hpp: the paused and manual clocks (RuntimeConfig::clock,
// duet/time/clock.hpp, docs/time.md).
//
// A runtime built with a test clock owns one TestClock; several may live at
// once, each its runtime's. Its time is a word in a slot of static storage
// (so a thread that reads it while the runtime is destroyed reads valid
// memory), which only this class writes, and only forward: duet::Clock::now()
// reads it on the runtime's workers, and off every worker while it is the
// only test clock that lives (test_clock_now_ns). Time moves in steps: a
// step finds the earliest
// pending deadline over every worker's wheel and the clock's own wheel (the
// timers of threads off the runtime), sets the clock to it and fires what is
// due there, so timers fire in deadline order and each sees the clock at its
// own deadline (rounded up to the wheel's 1024 ns tick).
//
//   - auto-advance (ClockMode::paused): the last worker to park, with no
//     queued work, takes one step instead of sleeping (jump_if_idle).
//   - hold(true) (duet/detail/driven_clock.hpp) stops the auto-advance: the
//     last worker to park sleeps; hold(false) lets it go again.
//   - Runtime::advance(d): from a thread off the runtime, steps through
//     every deadline up to now + d, letting the workers run what each step
//     woke (until every worker is parked again) before the next step.
//
// The clock reaches its runtime's scheduler only through the functions
// declared below, which the scheduler defines (sched/scheduler.cpp): time/
// includes nothing of sched/.
//
// Steps are serialised by one mutex (cold path: only test runtimes take it).
// A step counts the timers it fires to know that it woke something (and
// must let it run) rather than only cascaded entries; so no worker fires
// its own wheel while it is listed as parked (Worker::fire_due_while_parked):
// the clock moves before the wheels do, and a parked worker that woke
// meanwhile would otherwise take the step's timers from under it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "wheel.hpp"

namespace duet::detail {

class Scheduler;
class TestClock;

// ---- the runtime a test clock steps, as the clock reaches it -------------
// Plain calls on the cold path (test runtimes only), defined by the
// scheduler (sched/scheduler.cpp).

/// How many workers `s` has (fixed once its workers are built).
[[nodiscard]] std::size_t worker_count(const Scheduler& s) noexcept;
/// Worker `i`'s timer wheel (i < worker_count(s)).
[[nodiscard]] TimerWheel& worker_timers(Scheduler& s, std::size_t i) noexcept;
/// Wakes `s`'s first worker: a spurious wake-up, after which it considers a
/// step before sleeping again (Worker::park).
void wake_first_worker(Scheduler& s) noexcept;
/// Every worker of `s` parked and no work queued, a pinned inbox included.
[[nodiscard]] bool runtime_quiescent(const Scheduler& s) noexcept;
/// `s` has shut down.
[[nodiscard]] bool runtime_shut_down(const Scheduler& s) noexcept;
/// `s`'s test clock, or null (real time).
[[nodiscard]] TestClock* test_clock_of(const Scheduler& s) noexcept;

class TestClock {
 public:
  /// Starts a test clock at the current real time (rounded up to a wheel
  /// tick), in a free slot. Throws std::logic_error when every slot is
  /// taken (kMaxLive clocks live).
  TestClock(Scheduler& s, bool auto_advance);
  /// Fires what is left on its own wheel (threads off the runtime that still
  /// wait go on) and gives its slot back.
  ~TestClock();
  TestClock(const TestClock&) = delete;
  TestClock& operator=(const TestClock&) = delete;

  static constexpr std::size_t kMaxLive = 64;

  /// The clock a thread off every worker reads: the only one that lives,
  /// or null (none, or several).
  static TestClock* sole() noexcept;
  /// Its time, in steady_clock nanoseconds.
  [[nodiscard]] std::int64_t now_ns() const noexcept;
  /// A timer polled off the runtime's workers (a plain thread, a blocking
  /// job) while the clock is the only one that lives goes on the clock's own wheel; when
  /// the clock auto-advances, a worker is woken to consider a step (the
  /// workers may all be asleep already). Returns TimerWheel::insert's.
  bool insert_off_runtime(TimerEntry& e, const Waker& w);

  /// A worker about to sleep: when the clock auto-advances, every worker is
  /// parked and no work is queued, takes one step. True when it fired
  /// something (the caller runs it instead of sleeping).
  bool jump_if_idle();
  /// Runtime::advance (see the header comment).
  void advance(std::chrono::nanoseconds d);
  /// Holds or lets go the auto-advance (see the header comment).
  void hold(bool held) noexcept;
  [[nodiscard]] bool auto_advances() const noexcept { return auto_advance_; }
  /// Returns once every worker is parked and nothing is queued.
  void wait_quiescent() const;

 private:
  /// Steps to the earliest deadline if it is at most `limit` (ticks), with
  /// mu_ held; repeats through cascades. Returns how many timers fired.
  std::size_t step(std::uint64_t limit);
  /// Its time in wheel ticks.
  [[nodiscard]] std::uint64_t tick() const noexcept;
  /// Moves its time to `ns` (under mu_, or before its workers start).
  void set_ns(std::uint64_t ns) noexcept;
  /// Every worker parked and nothing queued.
  [[nodiscard]] bool quiescent() const noexcept;

  Scheduler& sched_;
  const bool auto_advance_;
  std::atomic<bool> held_{false};
  std::atomic<std::int64_t>* ns_;  // its slot
  std::mutex mu_;
  TimerWheel wheel_;
};

}  // namespace duet::detail

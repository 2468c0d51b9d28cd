// test_clock.hpp: the paused and manual clocks (RuntimeConfig::clock,
// duet/time/clock.hpp, docs/time.md).
//
// A runtime built with a test clock installs one TestClock for the process:
// duet::Clock::now() then reads detail::test_clock_ns, which only this class
// writes, and only forward. Time moves in steps: a step finds the earliest
// pending deadline over every worker's wheel and the clock's own wheel (the
// timers of threads off the runtime), sets the clock to it and fires what is
// due there, so timers fire in deadline order and each sees the clock at its
// own deadline (rounded up to the wheel's 1024 ns tick).
//
//   - auto-advance (ClockMode::paused): the last worker to park, with no
//     queued work, takes one step instead of sleeping (jump_if_idle).
//   - Runtime::advance(d): from a thread off the runtime, steps through
//     every deadline up to now + d, letting the workers run what each step
//     woke (until every worker is parked again) before the next step.
//
// Steps are serialised by one mutex (cold path: only test runtimes take it).
// A step counts the timers it fires to know that it woke something (and
// must let it run) rather than only cascaded entries; so no worker fires
// its own wheel while it is listed as parked (Worker::fire_due_while_parked):
// the clock moves before the wheels do, and a parked worker that woke
// meanwhile would otherwise take the step's timers from under it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "wheel.hpp"

namespace duet::detail {

class Scheduler;

class TestClock {
 public:
  /// Installs the process's test clock at the current real time (rounded up
  /// to a wheel tick). Throws std::logic_error when one is installed.
  TestClock(Scheduler& s, bool auto_advance);
  /// Fires what is left on its own wheel (threads off the runtime that still
  /// wait go on) and uninstalls it: Clock::now() reads real time again.
  ~TestClock();
  TestClock(const TestClock&) = delete;
  TestClock& operator=(const TestClock&) = delete;

  /// The installed clock, or null.
  static TestClock* installed() noexcept;
  /// A timer polled off the runtime's workers (a plain thread, a blocking
  /// job) while the clock is installed goes on the clock's own wheel; when
  /// the clock auto-advances, a worker is woken to consider a step (the
  /// workers may all be asleep already). Returns TimerWheel::insert's.
  bool insert_off_runtime(TimerEntry& e, const Waker& w);

  /// A worker about to sleep: when the clock auto-advances, every worker is
  /// parked and no work is queued, takes one step. True when it fired
  /// something (the caller runs it instead of sleeping).
  bool jump_if_idle();
  /// Runtime::advance (see the header comment).
  void advance(std::chrono::nanoseconds d);

 private:
  /// Steps to the earliest deadline if it is at most `limit` (ticks), with
  /// mu_ held; repeats through cascades. Returns how many timers fired.
  std::size_t step(std::uint64_t limit);
  /// Every worker parked and nothing queued.
  [[nodiscard]] bool quiescent() const noexcept;
  void wait_quiescent() const;

  Scheduler& sched_;
  const bool auto_advance_;
  std::mutex mu_;
  TimerWheel wheel_;
};

}  // namespace duet::detail

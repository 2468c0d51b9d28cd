// duet/detail/driven_clock.hpp: a paused test clock that moves only while
// a thread off its runtime waits on it (duet::sim's World: the world's
// time moves while the test's thread is in World::run or a join, and
// stands still between, so what the test's thread does between two waits
// lands at a point the seed fixes).
//
// The pieces: a hold on a runtime's auto-advancing clock (held, the last
// worker to park sleeps instead of stepping; Runtime::advance still
// steps), a wait until every worker is idle, and an observer of the waits
// of threads off every runtime (duet::wait, join and block_on on a plain
// thread park and are woken through it). Cold paths only: the observer is
// read once per park and per wake of a plain thread.
#pragma once

#include "duet/export.hpp"

namespace duet {
class Runtime;
}

namespace duet::detail {

/// Holds (`held`) or lets go `rt`'s paused clock (RuntimeConfig::clock ==
/// ClockMode::paused). Letting go wakes a worker to consider a step.
/// Throws std::logic_error when `rt` has no paused clock.
DUET_API void hold_clock(Runtime& rt, bool held);
/// Returns once every worker of `rt` is parked and no work is queued (or
/// `rt` has shut down). Call it off `rt`'s workers: on one it throws
/// std::logic_error. With the clock held, this is the point where every
/// task has run as far as it can at the current instant.
DUET_API void wait_idle(Runtime& rt);

/// Sees the waits of threads off every runtime. `parker` names the waiting
/// thread's parker (its identity only). parking() runs on the waiting
/// thread after its operation registered the thread's waker and before it
/// sleeps (it may sleep several times in one wait: a wake-up may be
/// stale); waking() on whichever thread wakes that waker, before the wake;
/// waited() on the waiting thread when its operation is ready, before the
/// wait returns (also for a wait that never slept). None may throw or wait
/// on a duet operation.
class ThreadWaitObserver {
 public:
  virtual void parking(const void* parker) noexcept = 0;
  virtual void waking(const void* parker) noexcept = 0;
  virtual void waited(const void* parker) noexcept = 0;

 protected:
  ~ThreadWaitObserver() = default;
};
/// Installs `o` (null: none). One at a time: installing over another
/// throws std::logic_error. The caller keeps `o` alive until it installs
/// null, and does so while no thread waits.
DUET_API void observe_thread_waits(ThreadWaitObserver* o);

}  // namespace duet::detail

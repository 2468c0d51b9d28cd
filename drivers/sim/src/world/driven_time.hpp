// driven_time.hpp: the world's time moves only while a thread off the world
// waits on it (World::run, a join, duet::wait on the test's thread), and
// stands still between: the world's paused clock is held from its
// construction, let go when the waiting thread parks, and held again by
// the wake that ends the wait, on the world's worker, at a point the seed
// fixes. When the wait returns, the waiting thread first lets the world
// finish what the current instant holds (duet/detail/driven_clock.hpp), so
// what the test's thread does next (a crash, a restart, a read of the
// trace) lands at the same point of the run for the same seed.
//
// One thread drives the world at a time (the test's): a second thread that
// waits meanwhile takes the first one's place.
#pragma once

#include <atomic>

#include "duet/detail/driven_clock.hpp"
#include "duet/runtime.hpp"

namespace duet::sim::detail {

class DrivenTime final : public duet::detail::ThreadWaitObserver {
 public:
  /// Holds `rt`'s clock and watches plain threads' waits until destroyed.
  explicit DrivenTime(Runtime& rt);
  ~DrivenTime();
  DrivenTime(const DrivenTime&) = delete;
  DrivenTime& operator=(const DrivenTime&) = delete;

  void parking(const void* parker) noexcept override;
  void waking(const void* parker) noexcept override;
  void waited(const void* parker) noexcept override;

  /// From a thread off the world: returns once the world has run what the
  /// current instant holds (its clock held). A no-op on the world's worker.
  void settle();

 private:
  Runtime& rt_;
  /// The parker of the thread whose wait lets the world run, or null.
  std::atomic<const void*> waiter_{nullptr};
  /// Whether the clock is held (mirrors hold_clock's last call).
  std::atomic<bool> held_{true};
};

}  // namespace duet::sim::detail

// spin_lock.hpp: a test-and-test-and-set lock for critical sections of a
// few stores (OwnedTasks shards). After a short spin it yields the CPU, so a
// preempted holder on an oversubscribed machine costs a time slice, not a
// burnt core.
#pragma once

#include <sched.h>
#include <atomic>

namespace duet::detail {

class SpinLock {
 public:
  void lock() noexcept {
    for (;;) {
      // Acquire: the critical section must not start before we own it.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      for (int i = 0; locked_.load(std::memory_order_relaxed); ++i) {
        if (i < 64) {
          __builtin_ia32_pause();
        } else {
          sched_yield();
        }
      }
    }
  }
  // Release: publish the critical section to the next owner.
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace duet::detail

// duet/sync/detail/spin_lock.hpp: the lock inside every sync primitive and
// channel. Critical sections are a handful of pointer stores (link a waiter,
// move one value), so a test-and-test-and-set lock is cheaper than a futex
// mutex: one locked exchange to take it, one plain store to give it back.
// After a short spin it yields the CPU, so a holder preempted on an
// oversubscribed machine costs a time slice, not a burnt core.
#pragma once

#include <sched.h>

#include <atomic>
#include "duet/detail/cpu_relax.hpp"

namespace duet::detail {

class SpinLock {
 public:
  void lock() noexcept {
    for (;;) {
      // Acquire: the critical section must not start before we own it.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      for (int i = 0; locked_.load(std::memory_order_relaxed); ++i) {
        if (i < 64) {
          detail::cpu_relax();
        } else {
          sched_yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    // Acquire: as lock().
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  // Release: publish the critical section to the next owner.
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

/// std::lock_guard without <mutex>.
class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) noexcept : l_(l) { l_.lock(); }
  ~SpinGuard() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace duet::detail

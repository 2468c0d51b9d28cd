// duet/sync/mutex.hpp: an async mutex, fair (FIFO), usable from coroutines,
// fibers and plain threads at once.
//
// Example (coroutine):
//   duet::Mutex m;
//   if (auto g = m.try_lock()) { /* tier 1: never waits */ }
//   { auto g = co_await m.lock(); /* ... */ }     // tier 2, coroutine
//   { auto g = duet::wait(m.lock()); /* ... */ }  // tier 2, fiber / thread
//
// The guard unlocks on destruction (or with unlock()). It is a binary
// Semaphore underneath: uncontended lock and unlock are one atomic
// read-modify-write each; contended, the lock passes to the oldest waiter.
#pragma once

#include <utility>

#include "duet/poll.hpp"
#include "duet/sync/semaphore.hpp"

namespace duet {

class Mutex;

/// Owns a locked Mutex; unlocks it on destruction. Empty after a failed
/// try_lock or after unlock()/release().
class [[nodiscard]] MutexGuard {
 public:
  MutexGuard() noexcept = default;
  explicit MutexGuard(Mutex* m) noexcept : m_(m) {}
  MutexGuard(MutexGuard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  MutexGuard& operator=(MutexGuard&& o) noexcept {
    if (this != &o) {
      unlock();
      m_ = std::exchange(o.m_, nullptr);
    }
    return *this;
  }
  ~MutexGuard() { unlock(); }
  inline void unlock() noexcept;
  /// Gives up ownership without unlocking.
  Mutex* release() noexcept { return std::exchange(m_, nullptr); }
  [[nodiscard]] bool owns_lock() const noexcept { return m_ != nullptr; }
  explicit operator bool() const noexcept { return owns_lock(); }

 private:
  Mutex* m_ = nullptr;
};

class Mutex {
 public:
  Mutex() noexcept = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  /// Locks if free and nobody waits; an empty guard otherwise.
  MutexGuard try_lock() noexcept { return sem_.try_acquire(1) ? MutexGuard(this) : MutexGuard(); }

  /// The poll future of lock(): ready with a guard. Not movable once it
  /// waits (see duet/sync/detail/wait_list.hpp).
  class [[nodiscard]] Lock {
   public:
    explicit Lock(Mutex* m) noexcept : m_(m), a_(&m->sem_, 1) {}
    Poll<MutexGuard> poll(Context& cx) {
      if (a_.poll(cx).is_pending()) return pending;
      return MutexGuard(m_);
    }

   private:
    Mutex* m_;
    Semaphore::Acquire a_;
  };
  Lock lock() noexcept { return Lock(this); }

  /// Unlocks without a guard (after MutexGuard::release()).
  void unlock() noexcept { sem_.release(1); }

  [[nodiscard]] bool is_locked() const noexcept { return sem_.available_permits() == 0; }

 private:
  Semaphore sem_{1};
};

inline void MutexGuard::unlock() noexcept {
  if (m_ != nullptr) std::exchange(m_, nullptr)->unlock();
}

}  // namespace duet

// duet/channel/detail/shared_state.hpp: the state that Broadcast and Watch
// handles share, written once: a reference count (handles of both ends,
// RefCounted), a sender count (the last sender handle to go closes the channel, as in
// Tokio), the lock, the closed flag and the waiters, woken all at once.
//
// CRTP: Derived adds its payload (a ring of messages, a value) and is what
// the last reference destroys; Derived::make(args...) allocates it
// (ref_counted.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

#include "duet/channel/detail/ref_counted.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"

namespace duet::detail {

template <class Derived>
struct SharedState : RefCounted<Derived> {
  std::atomic<std::size_t> senders{1};  // sender handles: the last one closes
  detail::SpinLock lock;
  bool closed = false;  // guarded by lock
  detail::WaitList<> waiters;

  void add_sender() noexcept {
    // Relaxed: the caller holds a sender handle, so the count cannot reach 0.
    senders.fetch_add(1, std::memory_order_relaxed);
  }
  /// A sender handle is gone; true when it was the last one. AcqRel: the
  /// last sender's close comes after every other sender's sends.
  bool drop_sender() noexcept { return senders.fetch_sub(1, std::memory_order_acq_rel) == 1; }
  /// Marks the channel closed and wakes every waiter; false if it was.
  bool close() noexcept {
    {
      detail::SpinGuard g(lock);
      if (closed) return false;
      closed = true;
    }
    wake_all();
    return true;
  }
  /// Wakes every waiter, a batch at a time (the lock is not held while
  /// waking: that may schedule tasks and unpark workers).
  void wake_all() noexcept {
    detail::drain_in_batches(
        lock, [&](detail::WakeBatch& b) { return complete_into(waiters, b, detail::st_done); });
  }
};

}  // namespace duet::detail

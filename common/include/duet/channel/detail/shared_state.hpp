// duet/channel/detail/shared_state.hpp: the state that Broadcast and Watch
// handles share, written once: a reference count (handles of both ends), a
// sender count (the last sender handle to go closes the channel, as in
// Tokio), the lock, the closed flag and the waiters, woken all at once.
//
// CRTP: Derived adds its payload (a ring of messages, a value) and is what
// the last reference destroys. Derived::make(args...) allocates it with
// std::allocator (no raw new).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"

namespace duet::detail {

template <class Derived>
struct SharedState {
  std::atomic<std::size_t> refs{1};
  std::atomic<std::size_t> senders{1};  // sender handles: the last one closes
  detail::SpinLock lock;
  bool closed = false;  // guarded by lock
  detail::WaitList<> waiters;

  template <class... A>
  static Derived* make(A&&... a) {
    std::allocator<Derived> alloc;
    Derived* s = alloc.allocate(1);
    try {
      std::construct_at(s, std::forward<A>(a)...);
    } catch (...) {
      alloc.deallocate(s, 1);
      throw;
    }
    return s;
  }
  void ref() noexcept {
    // Relaxed: the caller holds a reference.
    refs.fetch_add(1, std::memory_order_relaxed);
  }
  void unref() noexcept {
    // AcqRel: the last owner sees every other owner's writes.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      auto* self = static_cast<Derived*>(this);
      std::allocator<Derived> alloc;
      std::destroy_at(self);
      alloc.deallocate(self, 1);
    }
  }
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

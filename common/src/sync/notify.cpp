#include "duet/sync/notify.hpp"

#include <utility>

namespace duet {

using namespace detail;

// Status of a Notify waiter: st_done = chosen by notify_one (a permit it
// must pass on if it dies unseen); st_closed = woken by notify_all.

void Notify::notify_one() noexcept {
  Waker w;
  {
    SpinGuard g(lock_);
    WaitNode* n = waiters_.pop_front();
    if (n == nullptr) {
      permit_ = true;
      return;
    }
    w = n->complete(st_done);
  }
  std::move(w).wake();
}

bool Notify::try_notified() noexcept {
  SpinGuard g(lock_);
  return std::exchange(permit_, false);
}

void Notify::notify_all() noexcept {
  // Wakes in batches (drain_in_batches); the generation moves once the
  // list is empty.
  drain_in_batches(lock_, [&](WakeBatch& b) {
    const bool more = complete_into(waiters_, b, st_closed);
    // Release: a Notified created before this increment and not yet
    // polled sees the new generation and completes.
    if (!more) gen_.fetch_add(1, std::memory_order_release);
    return more;
  });
}

Poll<void> Notify::Notified::poll(Context& cx) {
  switch (w_.load_status()) {
    case st_done:
    case st_closed:
      // Status rule (duet/sync/detail/wait_list.hpp).
      w_.status.store(st_idle, std::memory_order_relaxed);
      return ready();
    default:
      break;
  }
  SpinGuard g(n_->lock_);
  std::uint8_t st = w_.status.load(std::memory_order_relaxed);  // under the lock
  if (st == st_done || st == st_closed) {
    w_.status.store(st_idle, std::memory_order_relaxed);
    return ready();
  }
  if (st == st_queued) {
    w_.update_waker(cx.waker());
    return pending;
  }
  // First poll. Relaxed under the lock: notify_all increments under it.
  if (n_->gen_.load(std::memory_order_relaxed) != gen_) return ready();
  if (n_->permit_) {
    n_->permit_ = false;
    return ready();
  }
  w_.waker = cx.waker();
  // Status rule (duet/sync/detail/wait_list.hpp).
  w_.status.store(st_queued, std::memory_order_relaxed);
  n_->waiters_.push_back(&w_);
  return pending;
}

void Notify::cancel(WaitNode& w) noexcept {
  std::uint8_t st;
  {
    SpinGuard g(lock_);
    // Status rule (duet/sync/detail/wait_list.hpp).
    st = w.status.load(std::memory_order_relaxed);
    if (st == st_queued) waiters_.remove(&w);
    // Status rule (duet/sync/detail/wait_list.hpp).
    w.status.store(st_idle, std::memory_order_relaxed);
  }
  // Chosen by notify_one but never saw it: pass it on.
  if (st == st_done) notify_one();
}

}  // namespace duet

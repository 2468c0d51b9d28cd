#include "duet/sync/semaphore.hpp"

namespace duet {

using namespace detail;

bool Semaphore::drain_locked(WakeBatch& b, const Waiter* self) noexcept {
  while (Waiter* f = waiters_.front()) {
    if (!take(f->needed)) break;
    waiters_.pop_front();
    Waker w = f->complete(st_done);
    if (f != self) {
      b.push(std::move(w));
      if (b.full()) {
        if (waiters_.empty()) contended_.store(false, std::memory_order_seq_cst);
        return false;
      }
    }
  }
  if (waiters_.empty()) contended_.store(false, std::memory_order_seq_cst);
  return true;
}

bool Semaphore::poll_slow(Waiter& w, Context& cx) {
  WakeBatch b;
  lock_.lock();
  if (waiters_.empty() && take(w.needed)) {
    lock_.unlock();
    return true;
  }
  w.waker = cx.waker();
  w.status.store(st_queued, std::memory_order_relaxed);  // under the lock
  waiters_.push_back(&w);
  // Seq_cst store, then the re-check of permits_ in drain_locked: pairs
  // with release() (see there).
  contended_.store(true, std::memory_order_seq_cst);
  bool more = !drain_locked(b, &w);
  lock_.unlock();
  b.wake_all();
  if (more) release_slow();
  if (w.load_status() == st_done) {
    // Status rule (duet/sync/detail/wait_list.hpp).
    w.status.store(st_idle, std::memory_order_relaxed);
    w.waker = Waker{};
    return true;
  }
  return false;
}

bool Semaphore::repoll(Waiter& w, Context& cx) {
  SpinGuard g(lock_);
  // Status rule (duet/sync/detail/wait_list.hpp).
  if (w.status.load(std::memory_order_acquire) == st_done) {
    // Status rule (duet/sync/detail/wait_list.hpp).
    w.status.store(st_idle, std::memory_order_relaxed);
    return true;
  }
  w.update_waker(cx.waker());
  return false;
}

void Semaphore::release_slow() noexcept {
  for (;;) {
    WakeBatch b;
    lock_.lock();
    bool done = drain_locked(b, nullptr);
    lock_.unlock();
    b.wake_all();
    if (done) return;
  }
}

void Semaphore::cancel(Waiter& w) noexcept {
  lock_.lock();
  // Status rule (duet/sync/detail/wait_list.hpp).
  std::uint8_t st = w.status.load(std::memory_order_acquire);
  if (st == st_queued) {
    waiters_.remove(&w);
    // Status rule (duet/sync/detail/wait_list.hpp).
    w.status.store(st_idle, std::memory_order_relaxed);
    // We may have been the head that blocked smaller requests behind us.
    WakeBatch b;
    bool done = drain_locked(b, nullptr);
    lock_.unlock();
    b.wake_all();
    if (!done) release_slow();
    return;
  }
  lock_.unlock();
  if (st == st_done) {
    // Granted but never seen: pass the permits on (no lost wake-up).
    w.status.store(st_idle, std::memory_order_relaxed);
    release(w.needed);
  }
}

}  // namespace duet

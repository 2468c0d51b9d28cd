#include "duet/sync/barrier.hpp"

namespace duet {

using namespace detail;

Poll<BarrierWaitResult> Barrier::Wait::poll(Context& cx) {
  if (w_.load_status() == st_done) {
    // Status rule (duet/sync/detail/wait_list.hpp).
    w_.status.store(st_idle, std::memory_order_relaxed);
    return BarrierWaitResult(false);
  }
  b_->lock_.lock();
  std::uint8_t st = w_.status.load(std::memory_order_relaxed);  // under the lock
  if (st == st_done) {
    b_->lock_.unlock();
    w_.status.store(st_idle, std::memory_order_relaxed);
    return BarrierWaitResult(false);
  }
  if (st == st_queued) {
    w_.update_waker(cx.waker());
    b_->lock_.unlock();
    return pending;
  }
  if (++b_->arrived_ < b_->n_) {
    w_.waker = cx.waker();
    // Status rule (duet/sync/detail/wait_list.hpp).
    w_.status.store(st_queued, std::memory_order_relaxed);
    b_->waiters_.push_back(&w_);
    b_->lock_.unlock();
    return pending;
  }
  // The last arrival: trip. Wake in batches; the next generation may start
  // arriving as soon as the count is reset (its waiters queue behind).
  b_->arrived_ = 0;
  WaitList<> tripped = b_->waiters_.take();
  // The tripped nodes are off the barrier's list, but their owners' cancel()
  // would look for them there: complete them all before releasing the lock.
  WakeBatch b;
  // A full batch is woken now, still holding the lock (the nodes are
  // completed, only the moved-out wakers remain, and waking only schedules).
  while (complete_into(tripped, b, st_done)) b.wake_all();
  b_->lock_.unlock();
  b.wake_all();
  return BarrierWaitResult(true);
}

void Barrier::cancel(WaitNode& w) noexcept {
  SpinGuard g(lock_);
  // Status rule (duet/sync/detail/wait_list.hpp).
  if (w.status.load(std::memory_order_relaxed) == st_queued) {
    waiters_.remove(&w);
    // Status rule (duet/sync/detail/wait_list.hpp).
    w.status.store(st_idle, std::memory_order_relaxed);
    --arrived_;
  }
}

}  // namespace duet

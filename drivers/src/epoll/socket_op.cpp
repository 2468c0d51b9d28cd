// socket_op.cpp: how an operation starts on epoll. A socket op makes its
// syscall at once (non-blocking); on EAGAIN the task waits on the fd's
// registration in this worker's set (made by the first wait, kept until the
// socket closes), and its next poll tries again. A file op has no readiness
// and goes to the FilePool. Also the waiter lists of a registration.
#include <cerrno>

#include "epoll/epoll_driver.hpp"

namespace duet::io::detail {

Poll<long> EpollDriver::start(OpRequest& q, OpSlot& slot, Context& cx) {
  if (is_file_op(q.kind)) return start_on_file_pool(q, slot, cx);
  return start_socket_op(q, cx);
}

Poll<long> EpollDriver::start_socket_op(OpRequest& q, Context& cx) {
  Source& s = *q.src;
  const bool wr = is_write_side(q);
  if (q.kind == OpKind::timeout && !s.fd) {
    if (long e = arm_timerfd(q); e < 0) return e;
  }
  // A plain recv (no flags) is a stream's read: TcpStream's, a child's
  // pipe (datagram sockets and recvs with flags take other kinds or set a
  // flag). A short one leaves its stream empty.
  const bool stream_read = q.kind == OpKind::recv && q.flags == 0 && q.len > 0;
  for (;;) {
    // Acquire: pairs with the winner's compare-exchange below, so the
    // registration's fields are seen initialised.
    Registration* r = s.reg.load(std::memory_order_acquire);
    std::uint32_t seq = 0;
    // Acquire: pairs with the driver's release of the epoch; an event
    // published before this load is seen by the syscall below.
    if (r != nullptr) seq = (wr ? r->wr_epoch : r->rd_epoch).load(std::memory_order_acquire);
    long res = -EAGAIN;
    // After a short read, with no read event since the epoch it loaded,
    // the stream is still empty (bytes that came since would have moved
    // the epoch): wait for the edge without the syscall (nginx, likewise,
    // waits after a short read). Any event since makes it try, and so does
    // a FIN, an error or urgent data ever seen (rd_final: a read stops
    // short before them). Relaxed: rd_final was written before the epoch
    // this thread loaded with acquire, or the epoch has moved since.
    if (!stream_read || r == nullptr || r->rd_final.load(std::memory_order_relaxed) ||
        r->rd_drained.load(std::memory_order_relaxed) != seq + 1) {
      res = socket_syscall(q);
      stats.add(stats.io_syscalls);
      if (stream_read && r != nullptr) {
        const bool short_read = res > 0 && static_cast<std::size_t>(res) < q.len;
        r->rd_drained.store(short_read ? seq + 1 : 0u, std::memory_order_relaxed);
      }
    }
    if (res != -EAGAIN) return res;
    if (r == nullptr) {
      // First wait on this fd: add it to this worker's set and try again
      // (the readiness it had before the add is not reported as an edge).
      Registration* mine = add(s.fd.get());
      if (mine == nullptr) return -errno;
      Registration* none = nullptr;
      // AcqRel: publishes `mine` to the other waiters; acquire on failure
      // reads the winner's. The loser's registration is removed again.
      if (!s.reg.compare_exchange_strong(none, mine, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
        registration_release(mine);
      }
      continue;
    }
    r->lock.lock();
    // Relaxed under the lock: the driver bumps the epoch under it too.
    if ((wr ? r->wr_epoch : r->rd_epoch).load(std::memory_order_relaxed) != seq) {
      r->lock.unlock();
      continue;  // an event arrived since the load: try again
    }
    add_waiter(*r, wr, cx.waker());
    r->lock.unlock();
    return pending;
  }
}

// ---- waiters of a registration ------------------------------------------

void add_waiter(Registration& r, bool wr, const Waker& w) {
  Waker& slot = wr ? r.wr_waker : r.rd_waker;
  if (!slot) {
    slot = w;
    return;
  }
  if (slot.will_wake(w)) return;
  std::lock_guard lk(r.set->mu);
  // No driver: the set is gone and no event will come (the runtime shut
  // down); the waiter is not kept, as a dead set's would not be woken.
  if (r.set->driver == nullptr) return;
  for (const EpollSet::Overflow& o : r.set->overflow) {
    if (o.reg == &r && o.wr == wr && o.waker.will_wake(w)) return;
  }
  r.set->overflow.push_back(EpollSet::Overflow{&r, wr, w});
  r.more |= wr ? Registration::kWrMore : Registration::kRdMore;
}

}  // namespace duet::io::detail

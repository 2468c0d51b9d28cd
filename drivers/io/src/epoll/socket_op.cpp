// socket_op.cpp: how an operation starts on epoll. A socket op makes its
// syscall at once (non-blocking); on EAGAIN the task waits on the fd's
// registration in this worker's set (made by the first wait, kept until the
// socket closes), and its next poll tries again. A file op has no readiness
// and goes to the blocking pool. Also the waiter lists of a registration.
#include <cerrno>
#include <mutex>
#include <utility>
#include <vector>

#include "epoll/epoll_driver.hpp"

namespace duet::io::detail {

Poll<long> EpollDriver::start(OpRequest& q, OpSlot& slot, Context& cx) {
  if (is_file_op(q.kind)) return start_on_blocking_pool(q, slot, cx);
  return start_socket_op(q, slot, cx);
}

Poll<long> EpollDriver::start_socket_op(OpRequest& q, OpSlot& slot, Context& cx) {
  Source& s = *q.src;
  const bool wr = is_write_side(q);
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
    // A future that waited elsewhere (another socket's registration, an
    // accept queue) lets go of it first: one list at a time.
    if (slot.wait != OpSlot::Wait::none && slot.wait_in != r) op_withdraw(slot);
    Waker gone;  // the future's earlier waker: dropped after the lock
    r->lock.lock();
    // Relaxed under the lock: the driver bumps the epoch under it too.
    if ((wr ? r->wr_epoch : r->rd_epoch).load(std::memory_order_relaxed) != seq) {
      r->lock.unlock();
      continue;  // an event arrived since the load: try again
    }
    wait_in_registration(*r, wr, seq, cx.waker(), slot, gone);
    r->lock.unlock();
    return pending;
  }
}

// ---- waiters of a registration ------------------------------------------
//
// Each waiting future has one entry, its own: the side's slot in the
// registration, or an overflow entry in the set's list keyed by its OpSlot.
// The OpSlot records where (wait_inline) and the side's epoch at the time
// (wait_seq). Entries go three ways: an event takes every entry of a side
// and bumps its epoch (so an entry is still there exactly while the epoch
// equals wait_seq); the future takes its own back (a re-poll, completion,
// drop); a dead set drops its overflow list. Each OpSlot that points at a
// registration counts in `slots`, which keeps it alive past its socket's
// close (drop_registration).

namespace {

/// Under r.lock: moves the slot's entry (if an event has not taken it)
/// into `gone`.
void take_back(Registration& r, OpSlot& slot, Waker& gone) {
  const bool wr = slot.wait == OpSlot::Wait::writable;
  // Relaxed under the lock: the driver bumps the epoch under it too.
  if ((wr ? r.wr_epoch : r.rd_epoch).load(std::memory_order_relaxed) != slot.wait_seq) return;
  if (slot.wait_inline) {
    gone = std::move(wr ? r.wr_waker : r.rd_waker);
    return;
  }
  std::lock_guard lk(r.set->mu);
  std::vector<EpollSet::Overflow>& v = r.set->overflow;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it->owner != &slot || it->reg != &r) continue;
    gone = std::move(it->waker);
    *it = std::move(v.back());
    v.pop_back();
    return;  // `more` keeps its bit: the next event finds the side empty
  }
}

}  // namespace

void wait_in_registration(Registration& r, bool wr, std::uint32_t seq, const Waker& w, OpSlot& slot,
                          Waker& gone) {
  if (slot.wait_in == &r) {
    take_back(r, slot, gone);  // its earlier entry, unless an event took it
  } else {
    ++r.slots;
    slot.wait_in = &r;
  }
  slot.wait = wr ? OpSlot::Wait::writable : OpSlot::Wait::readable;
  slot.wait_seq = seq;
  Waker& first = wr ? r.wr_waker : r.rd_waker;
  if (!first) {
    first = w;
    slot.wait_inline = true;
    return;
  }
  slot.wait_inline = false;
  std::lock_guard lk(r.set->mu);
  // No driver: the set is gone and no event will come (the runtime shut
  // down); the waiter is not kept, as a dead set's would not be woken.
  if (r.set->driver == nullptr) return;
  r.set->overflow.push_back(EpollSet::Overflow{&r, &slot, wr, w});
  r.more |= wr ? Registration::kWrMore : Registration::kRdMore;
}

void withdraw_registration(OpSlot& slot) noexcept {
  auto* r = static_cast<Registration*>(slot.wait_in);
  Waker gone;  // dropped after the lock (a task's last reference may go)
  r->lock.lock();
  take_back(*r, slot, gone);
  const bool last = --r->slots == 0 && r->retired;
  r->lock.unlock();
  slot.wait = OpSlot::Wait::none;
  slot.wait_in = nullptr;
  if (last) free_registration(r);
}

void rekey_registration(OpSlot& from, OpSlot& to) noexcept {
  auto* r = static_cast<Registration*>(from.wait_in);
  r->lock.lock();
  if (!from.wait_inline) {
    std::lock_guard lk(r->set->mu);
    for (EpollSet::Overflow& o : r->set->overflow) {
      if (o.owner == &from) o.owner = &to;
    }
  }
  to.wait_in = std::exchange(from.wait_in, nullptr);
  to.wait_seq = from.wait_seq;
  to.wait = std::exchange(from.wait, OpSlot::Wait::none);
  to.wait_inline = from.wait_inline;
  r->lock.unlock();
}

}  // namespace duet::io::detail

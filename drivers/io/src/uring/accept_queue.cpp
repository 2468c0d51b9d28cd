// accept_queue.cpp: multishot accept (io_uring).
//
// A listener's first accept arms one multishot accept (IORING_OP_ACCEPT
// with IORING_ACCEPT_MULTISHOT): the kernel then accepts every connection
// as it arrives and posts a CQE with the new descriptor, with no SQE per
// connection. reap() hands each CQE to on_accept_cqe, which appends the
// descriptor to the listener's AcceptQueue and wakes its acceptors; an
// accept (on any thread) takes from the front, and accept_many takes every
// queued one in the same wake.
//
// Descriptor ownership: a descriptor belongs to the queue from its CQE
// until an accept takes it, then to the TcpStream (or UnixStream) made of
// it. The listener's close closes the queued ones and cancels the
// multishot; a descriptor whose CQE arrives after the close is closed as
// it is reaped. A queue holding kMaxQueued descriptors has its multishot
// cancelled (a listener nobody accepts on does not fill the process's
// descriptor table); its next accept re-arms it. An error (EMFILE, ENFILE,
// ENOMEM) ends the kernel's multishot: the next accept after the queued
// descriptors reports it once, and the one after that arms a new one, so
// the listener works again once descriptors are free.
//
// Arming: the queue stays on the ring that made it. Whichever accept finds
// it idle arms it (AcceptQueue::Arm): on the owner thread it submits the
// SQE; on any other thread it asks the owner, which submits it at its next
// poll. Every accept on a listener with a queue waits in the queue, never
// in a one-shot accept of its own, which the multishot could starve.
//
// Rings: a queue whose ring is gone (its runtime ended while the listener
// stays open) is adopted by the ring of the next accept that starts on
// one: the listener's queue is made once and freed only after its close,
// so any thread may use the pointer it loaded (a queue replaced and freed
// under a thread of another runtime was a use after free).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "duet/detail/block_cache.hpp"
#include "uring/uring_driver.hpp"

namespace duet::io::detail {
namespace {
constexpr std::size_t kMaxQueued = 64;

/// What an accept found in its listener's AcceptQueue.
enum class AcceptTake : std::uint8_t {
  ready,    // `out` is a descriptor or -errno
  pending,  // nothing yet; the waker is registered and the multishot armed
  gone,     // the queue's ring is gone: a new queue is needed
};

/// The queue's ring (null once the ring is gone).
UringDriver* owner_of(AcceptQueue* aq) noexcept {
  aq->lock.lock();
  UringDriver* d = aq->owner;
  aq->lock.unlock();
  return d;
}

/// Frees a released queue (its ring is gone or its last CQE came).
void destroy_queue(AcceptQueue* aq) noexcept {
  std::destroy_at(aq);
  duet::detail::block_free(aq, sizeof(AcceptQueue));
}

/// Under the queue's lock: `w` is the entry of the accept of `slot` (its
/// earlier one replaced; a first one counts the slot); false when out of
/// memory. The replaced waker goes to `gone`, dropped after the lock.
bool add_waiter(AcceptQueue* aq, const Waker& w, OpSlot& slot, Waker& gone) noexcept {
  if (slot.wait_in == aq) {
    for (AcceptQueue::Waiter& k : aq->waiters) {
      if (k.owner != &slot) continue;
      if (!k.waker.will_wake(w)) {
        gone = std::move(k.waker);
        k.waker = w;
      }
      return true;
    }
  } else {
    ++aq->slots;
    slot.wait_in = aq;
    slot.wait = OpSlot::Wait::accept;
  }
  try {
    aq->waiters.push_back(AcceptQueue::Waiter{&slot, w});
  } catch (...) {
    return false;
  }
  return true;
}

/// Wakes the acceptors taken out of a queue.
void wake_all(std::vector<AcceptQueue::Waiter>& ws) noexcept {
  for (AcceptQueue::Waiter& w : ws) std::move(w.waker).wake();
}

/// The acceptor's side (any thread): one queued descriptor or error, or
/// pending with `w` registered as the entry of `slot`; an idle queue is
/// armed on the way.
AcceptTake accept_queue_take(AcceptQueue* aq, const Waker& w, OpSlot& slot, long& out) {
  // An accept that waited elsewhere (a replaced queue, an epoll
  // registration) lets go of it first: one list at a time.
  if (slot.wait != OpSlot::Wait::none && slot.wait_in != aq) op_withdraw(slot);
  Waker gone;  // the accept's earlier waker: dropped after the lock
  aq->lock.lock();
  if (aq->queued() > 0) {
    out = aq->fds[aq->head++];
    if (aq->head == aq->fds.size()) {
      aq->fds.clear();
      aq->head = 0;
    }
    aq->lock.unlock();
    return AcceptTake::ready;
  }
  if (aq->error != 0) {
    out = std::exchange(aq->error, 0);
    aq->lock.unlock();
    return AcceptTake::ready;
  }
  UringDriver* d = aq->owner;
  if (d == nullptr) {
    aq->lock.unlock();
    return AcceptTake::gone;
  }
  if (!add_waiter(aq, w, slot, gone)) {
    aq->lock.unlock();
    out = -ENOMEM;
    return AcceptTake::ready;
  }
  // The owner thread submits at once; any other asks (AcceptQueue::Arm).
  const bool arm = aq->arm == AcceptQueue::Arm::idle;
  if (arm) {
    aq->arm = d->on_owner_thread() ? AcceptQueue::Arm::in_kernel : AcceptQueue::Arm::requested;
    aq->cancelling = false;
  }
  aq->lock.unlock();
  // The queue outlives this call: it is freed only once released and idle,
  // and the Source that holds it is in use by this accept.
  if (arm) d->arm_accept(aq);
  return AcceptTake::pending;
}

}  // namespace

// ---- the queues (owner thread unless said) --------------------------------

AcceptQueue* UringDriver::make_accept_queue(int fd) {
  void* mem = duet::detail::block_alloc(sizeof(AcceptQueue));
  auto* aq = std::construct_at(static_cast<AcceptQueue*>(mem));
  aq->owner = this;
  aq->fd = fd;
  std::lock_guard lk(live_mu_);
  aq->next = live_accepts_;
  if (live_accepts_ != nullptr) live_accepts_->prev = aq;
  live_accepts_ = aq;
  return aq;
}

void UringDriver::adopt_accept_queue(AcceptQueue* aq) noexcept {
  // live_mu_ before the queue's lock, as in teardown_accepts.
  std::lock_guard lk(live_mu_);
  aq->lock.lock();
  // Another ring may have adopted it first; a released one is its last
  // holder's to free.
  if (aq->owner == nullptr && !aq->released) {
    aq->owner = this;
    aq->prev = nullptr;
    aq->next = live_accepts_;
    if (live_accepts_ != nullptr) live_accepts_->prev = aq;
    live_accepts_ = aq;
  }
  aq->lock.unlock();
}

void UringDriver::free_accept_queue(AcceptQueue* aq) noexcept {
  {
    std::lock_guard lk(live_mu_);
    if (aq->prev != nullptr) aq->prev->next = aq->next;
    if (aq->next != nullptr) aq->next->prev = aq->prev;
    if (live_accepts_ == aq) live_accepts_ = aq->next;
  }
  destroy_queue(aq);
}

void UringDriver::submit_accept(AcceptQueue* aq) {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, aq->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, user_data::of(aq));
  ++inflight_;
}

void UringDriver::arm_accept(AcceptQueue* aq) noexcept {
  if (on_owner_thread() && !stopping_) {
    submit_accept(aq);
    return;
  }
  if (post_to_owner([&] { accept_arms_.push_back(aq); })) return;
  // Out of memory: the queue goes back to idle and its acceptors are
  // woken; their next poll asks again.
  aq->lock.lock();
  aq->arm = AcceptQueue::Arm::idle;
  std::vector<AcceptQueue::Waiter> ws = std::move(aq->waiters);
  aq->lock.unlock();
  wake_all(ws);
}

void UringDriver::serve_accept_arms(std::vector<AcceptQueue*>& arms) noexcept {
  for (AcceptQueue* aq : arms) {
    aq->lock.lock();
    const bool released = aq->released;
    const bool arm = !released && !stopping_;
    aq->arm = arm ? AcceptQueue::Arm::in_kernel : AcceptQueue::Arm::idle;
    // Released while asked: no CQE will come; freed now unless an
    // OpSlot still points at it (the last one's withdraw frees it).
    const bool free_it = released && aq->slots == 0;
    std::vector<AcceptQueue::Waiter> ws;
    if (!arm) ws = std::move(aq->waiters);  // a stopping ring: teardown detaches the queue
    aq->lock.unlock();
    if (arm) {
      submit_accept(aq);
    } else if (free_it) {
      free_accept_queue(aq);
    }
    wake_all(ws);
  }
  arms.clear();
}

void UringDriver::on_accept_cqe(AcceptQueue* aq, std::int32_t res, std::uint32_t flags) {
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  bool cancel = false;
  int orphan = -1;  // a descriptor nobody can take: closed below
  aq->lock.lock();
  if (res >= 0) {
    if (aq->released) {
      orphan = res;
    } else {
      try {
        aq->fds.push_back(res);
      } catch (...) {
        orphan = res;  // out of memory: the peer sees a reset, not a hang
        if (aq->error == 0) aq->error = -ENOMEM;
      }
      cancel = more && aq->queued() >= kMaxQueued && !aq->cancelling;
      if (cancel) aq->cancelling = true;
    }
  } else if (res != -ECANCELED) {
    aq->error = res;
  }
  if (!more) {
    aq->arm = AcceptQueue::Arm::idle;
    --inflight_;
  }
  // The acceptors are woken when the reap's batch is done
  // (wake_acceptors): every connection the batch brought is queued by
  // then, so that one accept_many takes them together, even when a woken
  // acceptor would run at once on another worker.
  // Both lists keep their capacity: no allocation per wake once warm.
  for (AcceptQueue::Waiter& w : aq->waiters) {
    try {
      woken_.push_back(std::move(w.waker));
    } catch (...) {
      std::move(w.waker).wake();  // out of memory: woken now (push_back left it whole)
    }
  }
  aq->waiters.clear();
  const bool free_it = aq->released && aq->arm == AcceptQueue::Arm::idle && aq->slots == 0;
  aq->lock.unlock();
  if (orphan >= 0) ::close(orphan);
  if (cancel) submit_cancel(user_data::of(aq));
  if (free_it) free_accept_queue(aq);
}

void UringDriver::wake_acceptors() noexcept {
  for (Waker& w : woken_) std::move(w).wake();
  woken_.clear();
}

void UringDriver::teardown_accepts() noexcept {
  // Every multishot is over (the destructor waited for its last CQE). The
  // queues still held by open listeners outlive the ring: detach them; the
  // descriptors they hold stay theirs (taken by the next accept, or closed
  // by the listener's close). An arm still asked for is refused: every
  // queue it names is on the live list.
  cancel_lock_.lock();
  accept_arms_.clear();
  cancel_lock_.unlock();
  std::lock_guard lk(live_mu_);
  for (AcceptQueue *aq = live_accepts_, *nx = nullptr; aq != nullptr; aq = nx) {
    nx = aq->next;
    aq->next = aq->prev = nullptr;
    aq->lock.lock();
    // Released: its last CQE never came (the wait timed out), or its arm
    // was refused. Freed now unless an OpSlot still points at it.
    if (aq->released && aq->slots == 0) {
      aq->lock.unlock();
      destroy_queue(aq);
      continue;
    }
    aq->owner = nullptr;  // the last OpSlot's withdraw frees a released one
    aq->arm = AcceptQueue::Arm::idle;
    std::vector<AcceptQueue::Waiter> ws = std::move(aq->waiters);
    aq->lock.unlock();
    wake_all(ws);
  }
  live_accepts_ = nullptr;
}

// ---- the accept's start, the batch and the listener's release ---------------

std::optional<Poll<long>> poll_queued_accept(OpRequest& q, OpSlot& slot, Context& cx) {
  long out = 0;
  // Acquire: as in poll_op, the queue's making happens before its use.
  switch (accept_queue_take(q.src->aq.load(std::memory_order_acquire), cx.waker(), slot, out)) {
    case AcceptTake::ready:
      return Poll<long>(out);
    case AcceptTake::pending:
      return Poll<long>(pending);
    case AcceptTake::gone:
      break;
  }
  return std::nullopt;
}

std::size_t take_queued_accepts(AcceptQueue* aq, int* out, std::size_t max) noexcept {
  std::size_t n = 0;
  aq->lock.lock();
  while (n < max && aq->queued() > 0) out[n++] = aq->fds[aq->head++];
  if (aq->head == aq->fds.size()) {
    aq->fds.clear();
    aq->head = 0;
  }
  aq->lock.unlock();
  return n;
}

std::optional<Poll<long>> UringDriver::start_multishot_accept(OpRequest& q, OpSlot& slot,
                                                              Context& cx) {
  if (!uring_features().multishot_accept) return std::nullopt;
  Source& s = *q.src;
  // Acquire/AcqRel on `aq`: a queue is made before it is published, and
  // whoever takes one out sees all that was done to it.
  AcceptQueue* aq = s.aq.load(std::memory_order_acquire);
  // Its ring is gone: this ring adopts it. A queue is never replaced while
  // its listener is open: any thread may have just loaded it.
  if (aq != nullptr && owner_of(aq) == nullptr) adopt_accept_queue(aq);
  if (aq == nullptr) {
    AcceptQueue* mine = make_accept_queue(s.fd.get());
    if (s.aq.compare_exchange_strong(aq, mine, std::memory_order_acq_rel)) {
      aq = mine;
    } else {
      free_accept_queue(mine);  // another worker's accept made one first: `aq` is it
    }
  }
  long out = 0;
  switch (accept_queue_take(aq, cx.waker(), slot, out)) {
    case AcceptTake::ready:
      return Poll<long>(out);
    case AcceptTake::pending:
      return Poll<long>(pending);
    case AcceptTake::gone:
      break;  // another ring adopted it and that ring is gone too: one-shot
  }
  return std::nullopt;
}

void accept_queue_release(AcceptQueue* aq) noexcept {
  aq->lock.lock();
  aq->released = true;
  UringDriver* d = aq->owner;
  const AcceptQueue::Arm arm = aq->arm;
  std::vector<int> fds = std::move(aq->fds);
  const std::size_t head = std::exchange(aq->head, 0);
  std::vector<AcceptQueue::Waiter> ws = std::move(aq->waiters);
  const bool held = aq->slots > 0;  // the last OpSlot's withdraw frees it
  aq->lock.unlock();
  for (std::size_t i = head; i < fds.size(); ++i) ::close(fds[i]);
  wake_all(ws);
  if (d == nullptr) {  // the ring is gone: nothing but an OpSlot can name the queue
    if (!held) destroy_queue(aq);
    return;
  }
  switch (arm) {
    case AcceptQueue::Arm::in_kernel:
      d->cancel_multishot(user_data::of(aq));  // its last CQE frees it (released is set)
      break;
    case AcceptQueue::Arm::requested:
      break;  // the owner serving the request frees it (serve_accept_arms)
    case AcceptQueue::Arm::idle:
      if (!held) d->free_accept_queue(aq);  // no CQE to come
      break;
  }
}

void withdraw_accept(OpSlot& slot) noexcept {
  auto* aq = static_cast<AcceptQueue*>(slot.wait_in);
  Waker gone;  // dropped after the lock (a task's last reference may go)
  aq->lock.lock();
  std::vector<AcceptQueue::Waiter>& v = aq->waiters;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it->owner != &slot) continue;  // none: a wake took it
    gone = std::move(it->waker);
    *it = std::move(v.back());
    v.pop_back();
    break;
  }
  const bool free_it = --aq->slots == 0 && aq->released && aq->arm == AcceptQueue::Arm::idle;
  UringDriver* d = aq->owner;
  aq->lock.unlock();
  slot.wait = OpSlot::Wait::none;
  slot.wait_in = nullptr;
  if (!free_it) return;
  if (d != nullptr) {
    d->free_accept_queue(aq);
  } else {
    destroy_queue(aq);  // its ring is gone: off every list
  }
}

void rekey_accept(OpSlot& from, OpSlot& to) noexcept {
  auto* aq = static_cast<AcceptQueue*>(from.wait_in);
  aq->lock.lock();
  for (AcceptQueue::Waiter& w : aq->waiters) {
    if (w.owner == &from) w.owner = &to;
  }
  to.wait_in = std::exchange(from.wait_in, nullptr);
  to.wait = std::exchange(from.wait, OpSlot::Wait::none);
  aq->lock.unlock();
}

}  // namespace duet::io::detail

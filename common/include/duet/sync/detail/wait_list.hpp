// duet/sync/detail/wait_list.hpp: the intrusive waiter node that every
// waiting operation embeds (no heap allocation on a wait path),
// the FIFO list that primitives keep them in, and the batch that wakes them
// after the primitive's lock is released.
//
// Life of a waiter (the protocol of every primitive in duet/sync and
// duet/channel):
//
//   owner (the future)                     notifier (unlock, send, close)
//   ------------------                     ------------------------------
//   poll: lock; cannot proceed:
//     clone cx.waker() into node,
//     status = queued, link; unlock;
//     return pending
//                                          lock; pop node; hand it the
//                                          grant (permit, value, close);
//                                          move the waker out;
//                                          status = done (release); unlock;
//                                          wake the moved-out waker
//   re-poll: status == done (acquire):
//     ready, no lock taken
//   destructor: status == queued:
//     lock; still queued? unlink;
//     done meanwhile? pass the grant on
//
// The notifier never touches a node after storing `done`, so the owner may
// destroy it as soon as it reads `done`. A node is linked at a fixed
// address: a future must not be moved while its node is queued (each
// future's move constructor checks this and terminates).
//
// Select: a node that belongs to a `select` carries a pointer to the
// select's claim word. A notifier must win that word (compare-exchange from
// 0 to the node's case id) before it completes the node; losing means
// another case of the same select already completed, and the node is just
// unlinked. This is what keeps a select from taking two messages.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "duet/waker.hpp"

namespace duet::detail {

enum Status : std::uint8_t {
  st_idle = 0,    // not linked (never polled, or finished)
  st_queued = 1,  // linked in a primitive's list
  st_done = 2,    // granted: the operation completed for this waiter
  st_closed = 3,  // the primitive was closed while it waited
};

/// Memory order of WaitNode::status (every access in duet/sync and
/// duet/channel follows this rule; lines cite it as "status rule"):
///  - a notifier completes a waiter with a release store (complete()), and
///    the owner's lock-free read is an acquire load (load_status()): that
///    pair publishes the grant (value, permit) written before it;
///  - an owner's destructor that skips the lock because its node is no
///    longer queued loads with acquire too: the notifier wrote into the node
///    (moved its waker out) before completing it, and the node's members are
///    about to be destroyed (TSan found the relaxed version);
///  - every other access is made under the primitive's lock, or by the
///    owner while its node is not linked (nobody else can reach it), so it
///    is relaxed: the lock, or program order, already orders it.
struct WaitNode {
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  Waker waker;
  std::atomic<std::uint8_t> status{st_idle};
  std::uint32_t select_id = 0;
  std::atomic<std::uint32_t>* claim = nullptr;  // non-null inside a select

  WaitNode() = default;
  WaitNode(const WaitNode&) = delete;
  WaitNode& operator=(const WaitNode&) = delete;

  [[nodiscard]] std::uint8_t load_status() const noexcept {
    // Acquire: pairs with the notifier's release store of done/closed, so
    // the grant it wrote (a value, a permit) is visible.
    return status.load(std::memory_order_acquire);
  }
  /// Notifier side, under the primitive's lock: may this waiter be
  /// completed? Inside a select, claims the select for this case.
  [[nodiscard]] bool try_claim() noexcept {
    if (claim == nullptr) return true;
    std::uint32_t expected = 0;
    // AcqRel: the winner's later writes into the node are published with
    // the node's status; acquire orders us after a competing claim.
    return claim->compare_exchange_strong(expected, select_id, std::memory_order_acq_rel,
                                          std::memory_order_acquire);
  }
  /// Notifier side, under the lock, after unlinking: hand over `st` and
  /// take the waker out (to be woken after the lock is released).
  Waker complete(std::uint8_t st) noexcept {
    Waker w = std::move(waker);
    // Release: publishes the grant; after this store the owner may free
    // the node, so it is the last access.
    status.store(st, std::memory_order_release);
    return w;
  }
  /// Owner side, under the lock, while queued: keep the freshest waker.
  void update_waker(const Waker& w) {
    if (!waker.will_wake(w)) waker = w;
  }
};

/// Terminates, saying why: a future was moved while its waiter node was
/// linked.
[[noreturn]] inline void moved_while_linked() noexcept {
  // A linked node's address is in the primitive's list: moving it would
  // leave a dangling pointer. Futures are moved before their first poll
  // (spawn, co_await on an rvalue) or not at all.
  std::fputs(
      "duet: a future was moved while it was waiting (its waiter is linked into a mutex, "
      "channel, timer or other primitive at its old address); move a future only before its "
      "first poll, or wait on it where it is\n",
      stderr);
  std::abort();
}

/// FIFO intrusive list of WaitNodes (guarded by the primitive's lock).
template <class Node = WaitNode>
class WaitList {
 public:
  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
  [[nodiscard]] Node* front() const noexcept { return static_cast<Node*>(head_); }
  void push_back(Node* n) noexcept {
    WaitNode* b = n;
    b->next = nullptr;
    b->prev = tail_;
    if (tail_ != nullptr) {
      tail_->next = b;
    } else {
      head_ = b;
    }
    tail_ = b;
  }
  Node* pop_front() noexcept {
    WaitNode* n = head_;
    if (n != nullptr) remove(static_cast<Node*>(n));
    return static_cast<Node*>(n);
  }
  void remove(Node* n) noexcept {
    WaitNode* b = n;
    if (b->prev != nullptr) {
      b->prev->next = b->next;
    } else {
      head_ = b->next;
    }
    if (b->next != nullptr) {
      b->next->prev = b->prev;
    } else {
      tail_ = b->prev;
    }
    b->prev = b->next = nullptr;
  }
  /// Is some node a possible partner for the select whose claim word is
  /// `claim`, i.e. any node that is not that select's own? A select that
  /// sends and receives on one rendezvous channel finds its own other case
  /// queued there; Go's rule (test/chan/select3.go): a select must not be
  /// confused when it sees itself, it parks. Stops at the first other node.
  [[nodiscard]] bool has_other_than(const std::atomic<std::uint32_t>* claim) const noexcept {
    for (const WaitNode* n = head_; n != nullptr; n = n->next) {
      if (n->claim == nullptr || n->claim != claim) return true;
    }
    return false;
  }
  /// Steals the whole list (for close / notify_all).
  WaitList take() noexcept {
    WaitList l;
    l.head_ = std::exchange(head_, nullptr);
    l.tail_ = std::exchange(tail_, nullptr);
    return l;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

/// Wakers collected under a lock and woken after it is released (waking
/// may schedule a task and unpark a worker: not work to do under a spin
/// lock). Fixed capacity, no allocation: a caller that fills it releases
/// the lock, wakes, and takes the lock again.
class WakeBatch {
 public:
  static constexpr std::size_t capacity = 32;
  WakeBatch() = default;
  WakeBatch(const WakeBatch&) = delete;
  WakeBatch& operator=(const WakeBatch&) = delete;
  ~WakeBatch() { wake_all(); }
  [[nodiscard]] bool full() const noexcept { return n_ == capacity; }
  void push(Waker&& w) noexcept { w_[n_++] = std::move(w); }
  void wake_all() noexcept {
    for (std::size_t i = 0; i < n_; ++i) std::move(w_[i]).wake();
    n_ = 0;
  }

 private:
  Waker w_[capacity];
  std::size_t n_ = 0;
};

/// Completes waiters of `list` with status `st` into `b` until it is full
/// (each owner sees its node done; its waker moves into the batch). True
/// when nodes remain.
template <class Node>
bool complete_into(WaitList<Node>& list, WakeBatch& b, std::uint8_t st) noexcept {
  while (!b.full()) {
    Node* n = list.pop_front();
    if (n == nullptr) return false;
    b.push(n->complete(st));
  }
  return !list.empty();
}

/// The drain-all protocol of every primitive that wakes all its waiters (a
/// close, notify_all, a value set once), written once: under `lock`,
/// `fill(batch)` completes up to a batch of waiters (complete_into, or its
/// own pops) and returns true when more remain; the batch is woken with the
/// lock released, and the loop takes the lock again. So a close of N waiters
/// is O(N) without holding the lock for N wakes.
template <class Lock, class Fill>
void drain_in_batches(Lock& lock, Fill&& fill) noexcept {
  for (;;) {
    WakeBatch b;
    lock.lock();
    const bool more = fill(b);
    lock.unlock();
    b.wake_all();
    if (!more) return;
  }
}

}  // namespace duet::detail

// duet/channel/channel.hpp: Go-style MPMC channels.
//
// Example (coroutine):
//   auto ch = duet::Channel<int>::bounded(8);   // 0: rendezvous (unbuffered)
//   auto u = duet::Channel<int>::unbounded();
//   duet::SendResult<int> s = co_await ch.send(1);  // !s: closed (s.value: the value back)
//   std::optional<int> v = co_await ch.recv();      // empty: closed and drained
//   v = duet::wait(ch.recv());                      // the same in a fiber or on a thread
//   if (ch.try_send(2)) {}                          // tier 1: never waits
//   duet::TryRecv<int> t = ch.try_recv();           // ok, would_block, closed or nil
//   ch.close();
//
// A Channel is a handle: copies share one channel (reference counted).
// A default-constructed Channel is nil, like Go's nil channel: send and
// recv never complete (useful to disable a select case), try_send and
// try_recv return ChannelStatus::nil, close says nil.
//
// Close semantics (Go's): close() wakes every parked receiver and sender at
// once; receivers drain what is buffered, then get an empty optional; a
// send on a closed channel fails with ChannelStatus::closed and hands the
// value back (no abort); closing twice returns ChannelStatus::closed.
//
// Delivery is direct: a sender that finds a parked receiver moves the value
// into the receiver's future (no trip through the buffer), and a receiver
// that frees a slot moves the oldest parked sender's value in. Waiters are
// FIFO. Every message is received exactly once: a receiver that was handed
// a value and is destroyed before it saw it (cancelled, timed out) gives the
// value back to the front of the channel.
//
// Operations borrow the channel: keep a Channel handle alive while a send or
// recv future exists. Futures are not movable once they wait.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "duet/channel/detail/ref_counted.hpp"
#include "duet/channel/detail/ring.hpp"
#include "duet/channel/status.hpp"
#include "duet/poll.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"
#include "duet/waker.hpp"

namespace duet {

template <class T>
class Channel;

namespace detail {

using detail::SpinLock;
using detail::st_closed;
using detail::st_done;
using detail::st_idle;
using detail::st_queued;
using detail::WaitList;
using detail::WaitNode;
using detail::WakeBatch;

inline constexpr std::size_t unbounded_cap = SIZE_MAX;

template <class T>
struct RecvWaiter : WaitNode {
  std::optional<T> slot;  // where a sender puts the value
};
template <class T>
struct SendWaiter : WaitNode {
  std::optional<T> value;  // what a receiver takes
};

template <class T>
struct State : RefCounted<State<T>> {
  explicit State(std::size_t c) : buf(c == unbounded_cap ? 0 : c), cap(c) {}

  SpinLock lock;
  Ring<T> buf;
  const std::size_t cap;
  bool closed = false;
  WaitList<RecvWaiter<T>> recvq;
  WaitList<SendWaiter<T>> sendq;

  // ---- under the lock ------------------------------------------------------
  /// The oldest parked sender that may complete (a select's node is claimed;
  /// one whose select already completed elsewhere is dropped from the list).
  SendWaiter<T>* pop_sender() noexcept {
    while (SendWaiter<T>* s = sendq.pop_front()) {
      if (s->try_claim()) return s;
      // Release: the select owner may read idle without the lock and free it.
      s->status.store(st_idle, std::memory_order_release);
    }
    return nullptr;
  }
  RecvWaiter<T>* pop_receiver() noexcept {
    while (RecvWaiter<T>* r = recvq.pop_front()) {
      if (r->try_claim()) return r;
      r->status.store(st_idle, std::memory_order_release);  // as above
    }
    return nullptr;
  }
  /// Takes the next message into `out`; `wk` gets the waker of a sender
  /// that was completed by it.
  bool take(std::optional<T>& out, Waker& wk) {
    if (!buf.empty()) {
      out.emplace(buf.pop_front());
      if (SendWaiter<T>* s = pop_sender()) {
        buf.push_back(std::move(*s->value));
        s->value.reset();
        wk = s->complete(st_done);
      }
      return true;
    }
    if (SendWaiter<T>* s = pop_sender()) {
      out.emplace(std::move(*s->value));
      s->value.reset();
      wk = s->complete(st_done);
      return true;
    }
    return false;
  }
  /// Delivers `v` (to a parked receiver, else into the buffer if there is
  /// room); on success `v` is emptied.
  bool put(std::optional<T>& v, Waker& wk) {
    if (RecvWaiter<T>* r = pop_receiver()) {
      r->slot.emplace(std::move(*v));
      v.reset();
      wk = r->complete(st_done);
      return true;
    }
    if (buf.size() < cap) {
      buf.push_back(std::move(*v));
      v.reset();
      return true;
    }
    return false;
  }

  // ---- whole operations (take the lock) -----------------------------------
  /// A message handed to a receiver that died unseen goes back in front.
  void give_back(T&& v) {
    Waker wk;
    {
      detail::SpinGuard g(lock);
      if (RecvWaiter<T>* r = pop_receiver()) {
        r->slot.emplace(std::move(v));
        wk = r->complete(st_done);
      } else {
        buf.push_front(std::move(v));
      }
    }
    std::move(wk).wake();
  }
  ChannelStatus close() {
    {
      detail::SpinGuard g(lock);
      if (closed) return ChannelStatus::closed;
      closed = true;
    }
    // Wake every parked receiver and sender, in batches (the lock is
    // released between batches: an O(N) close that does not hold the lock
    // for N wakes). No new waiter can queue on a closed channel.
    detail::drain_in_batches(lock, [&](WakeBatch& b) {
      while (!b.full()) {
        WaitNode* n = recvq.pop_front();
        if (n == nullptr) n = sendq.pop_front();
        if (n == nullptr) break;
        if (n->try_claim()) {
          b.push(n->complete(st_closed));
        } else {
          n->status.store(st_idle, std::memory_order_release);  // see pop_sender
        }
      }
      return !recvq.empty() || !sendq.empty();
    });
    return ChannelStatus::ok;
  }
  template <class W, class Q>
  void unlink(W& w, Q& q) noexcept {
    Waker drop;
    {
      detail::SpinGuard g(lock);
      // Relaxed under the lock: notifiers write it under the same lock.
      if (w.status.load(std::memory_order_relaxed) == st_queued) {
        q.remove(&w);
        drop = std::move(w.waker);
        w.status.store(st_idle, std::memory_order_relaxed);
      }
    }
  }
};

}  // namespace detail

/// The poll future of Channel::recv(): ready with the next message, or an
/// empty optional once the channel is closed and drained.
template <class T>
class [[nodiscard]] Recv {
  using State = detail::State<T>;

 public:
  explicit Recv(State* s) noexcept : s_(s) {}
  Recv(Recv&& o) noexcept : s_(o.s_) {
    // Status rule (duet/sync/detail/wait_list.hpp).
    if (o.w_.status.load(std::memory_order_relaxed) != detail::st_idle) {
      detail::moved_while_linked();
    }
  }
  Recv& operator=(Recv&&) = delete;
  ~Recv() {
    // Acquire: a value handed to us must be visible to give it back.
    auto st = w_.load_status();
    if (st == detail::st_queued) {
      s_->unlink(w_, s_->recvq);
      st = w_.load_status();  // a grant may have raced with the unlink
    }
    if (st == detail::st_done && w_.slot) s_->give_back(std::move(*w_.slot));
  }

  Poll<std::optional<T>> poll(Context& cx) {
    switch (w_.load_status()) {
      case detail::st_done:
        return finish();
      case detail::st_closed:
        // Status rule (duet/sync/detail/wait_list.hpp).
        w_.status.store(detail::st_idle, std::memory_order_relaxed);
        return std::optional<T>();
      case detail::st_queued:
        return repoll(cx);
      default:
        break;
    }
    if (s_ == nullptr) return pending;  // nil channel
    Waker wk;
    std::optional<T> out;
    s_->lock.lock();
    if (s_->take(out, wk)) {
      s_->lock.unlock();
      std::move(wk).wake();
      return out;  // implicit move (C++20)
    }
    if (s_->closed) {
      s_->lock.unlock();
      return std::optional<T>();
    }
    w_.waker = cx.waker();
    w_.status.store(detail::st_queued, std::memory_order_relaxed);  // under the lock
    s_->recvq.push_back(&w_);
    s_->lock.unlock();
    return pending;
  }

  // ---- select hooks (duet/channel/select.hpp) --------------------------------
  bool sel_try() {
    if (s_ == nullptr) return false;
    Waker wk;
    {
      detail::SpinGuard g(s_->lock);
      if (s_->take(w_.slot, wk)) {
        // Status rule (duet/sync/detail/wait_list.hpp).
        w_.status.store(detail::st_done, std::memory_order_relaxed);
      } else if (s_->closed) {
        // Status rule (duet/sync/detail/wait_list.hpp).
        w_.status.store(detail::st_closed, std::memory_order_relaxed);
      } else {
        return false;
      }
    }
    std::move(wk).wake();
    return true;
  }
  /// Links the node for a select; true (and not linked) when the operation
  /// could complete now.
  bool sel_register(const Waker& wk, std::atomic<std::uint32_t>* claim, std::uint32_t id) {
    if (s_ == nullptr) return false;
    detail::SpinGuard g(s_->lock);
    if (!s_->buf.empty() || s_->sendq.has_other_than(claim) || s_->closed) return true;
    w_.claim = claim;
    w_.select_id = id;
    w_.waker = wk;
    // Status rule (duet/sync/detail/wait_list.hpp).
    w_.status.store(detail::st_queued, std::memory_order_relaxed);
    s_->recvq.push_back(&w_);
    return false;
  }
  void sel_unregister() noexcept {
    if (w_.load_status() == detail::st_queued) s_->unlink(w_, s_->recvq);
    w_.claim = nullptr;
  }
  [[nodiscard]] bool sel_completed() const noexcept { return w_.load_status() >= detail::st_done; }
  static constexpr bool sel_self_completing = false;
  std::optional<T> sel_take() {
    if (w_.load_status() == detail::st_done) return finish();
    // Status rule (duet/sync/detail/wait_list.hpp).
    w_.status.store(detail::st_idle, std::memory_order_relaxed);
    return std::nullopt;
  }

 private:
  std::optional<T> finish() {
    // Status rule (duet/sync/detail/wait_list.hpp).
    w_.status.store(detail::st_idle, std::memory_order_relaxed);
    std::optional<T> v = std::move(w_.slot);
    w_.slot.reset();
    return v;
  }
  Poll<std::optional<T>> repoll(Context& cx) {
    {
      detail::SpinGuard g(s_->lock);
      // Status rule (duet/sync/detail/wait_list.hpp).
      if (w_.status.load(std::memory_order_relaxed) == detail::st_queued) {
        w_.update_waker(cx.waker());
        return pending;
      }
    }
    return poll(cx);  // completed meanwhile
  }

  State* s_;
  detail::RecvWaiter<T> w_;
};

/// The poll future of Channel::send(v): ready with ok, or with closed and
/// the value handed back.
template <class T>
class [[nodiscard]] Send {
  using State = detail::State<T>;

 public:
  Send(State* s, T&& v) : s_(s) { w_.value.emplace(std::move(v)); }
  Send(Send&& o) noexcept : s_(o.s_) {
    // Status rule (duet/sync/detail/wait_list.hpp).
    if (o.w_.status.load(std::memory_order_relaxed) != detail::st_idle) {
      detail::moved_while_linked();
    }
    w_.value = std::move(o.w_.value);
  }
  Send& operator=(Send&&) = delete;
  ~Send() {
    // Acquire: a notifier that completed this waiter wrote into it (moved
    // its waker out) before its release store; those writes must
    // happen-before the node's members are destroyed here.
    if (w_.status.load(std::memory_order_acquire) == detail::st_queued) {
      s_->unlink(w_, s_->sendq);  // a send withdrawn: the value is dropped
    }
  }

  Poll<SendResult<T>> poll(Context& cx) {
    switch (w_.load_status()) {
      case detail::st_done:
      case detail::st_closed:
        return sel_take();
      case detail::st_queued:
        return repoll(cx);
      default:
        break;
    }
    if (s_ == nullptr) return pending;  // nil channel
    Waker wk;
    s_->lock.lock();
    if (s_->closed) {
      s_->lock.unlock();
      return SendResult<T>{ChannelStatus::closed, std::move(w_.value)};
    }
    if (s_->put(w_.value, wk)) {
      s_->lock.unlock();
      std::move(wk).wake();
      return SendResult<T>{};
    }
    w_.waker = cx.waker();
    w_.status.store(detail::st_queued, std::memory_order_relaxed);  // under the lock
    s_->sendq.push_back(&w_);
    s_->lock.unlock();
    return pending;
  }

  // ---- select hooks ----------------------------------------------------------
  bool sel_try() {
    if (s_ == nullptr) return false;
    Waker wk;
    {
      detail::SpinGuard g(s_->lock);
      if (s_->closed) {
        // Status rule (duet/sync/detail/wait_list.hpp).
        w_.status.store(detail::st_closed, std::memory_order_relaxed);
      } else if (s_->put(w_.value, wk)) {
        // Status rule (duet/sync/detail/wait_list.hpp).
        w_.status.store(detail::st_done, std::memory_order_relaxed);
      } else {
        return false;
      }
    }
    std::move(wk).wake();
    return true;
  }
  bool sel_register(const Waker& wk, std::atomic<std::uint32_t>* claim, std::uint32_t id) {
    if (s_ == nullptr) return false;
    detail::SpinGuard g(s_->lock);
    if (s_->closed || s_->recvq.has_other_than(claim) || s_->buf.size() < s_->cap) return true;
    w_.claim = claim;
    w_.select_id = id;
    w_.waker = wk;
    // Status rule (duet/sync/detail/wait_list.hpp).
    w_.status.store(detail::st_queued, std::memory_order_relaxed);
    s_->sendq.push_back(&w_);
    return false;
  }
  void sel_unregister() noexcept {
    if (w_.load_status() == detail::st_queued) s_->unlink(w_, s_->sendq);
    w_.claim = nullptr;
  }
  [[nodiscard]] bool sel_completed() const noexcept { return w_.load_status() >= detail::st_done; }
  static constexpr bool sel_self_completing = false;
  SendResult<T> sel_take() {
    bool ok = w_.load_status() == detail::st_done;
    // Status rule (duet/sync/detail/wait_list.hpp).
    w_.status.store(detail::st_idle, std::memory_order_relaxed);
    if (ok) return SendResult<T>{};
    return SendResult<T>{ChannelStatus::closed, std::move(w_.value)};
  }

 private:
  Poll<SendResult<T>> repoll(Context& cx) {
    {
      detail::SpinGuard g(s_->lock);
      // Status rule (duet/sync/detail/wait_list.hpp).
      if (w_.status.load(std::memory_order_relaxed) == detail::st_queued) {
        w_.update_waker(cx.waker());
        return pending;
      }
    }
    return sel_take();
  }

  State* s_;
  detail::SendWaiter<T> w_;
};

template <class T>
class Channel {
  using State = detail::State<T>;

 public:
  /// A nil channel.
  Channel() noexcept = default;
  /// A channel that buffers up to `capacity` messages; 0 makes a
  /// rendezvous channel (a send completes when a receiver takes it).
  static Channel bounded(std::size_t capacity) { return Channel(make(capacity)); }
  static Channel unbounded() { return Channel(make(detail::unbounded_cap)); }

  Channel(const Channel& o) noexcept : s_(o.s_) {
    if (s_ != nullptr) s_->ref();
  }
  Channel(Channel&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Channel& operator=(Channel o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~Channel() {
    if (s_ != nullptr) s_->unref();
  }

  /// Sends if a receiver waits or the buffer has room.
  SendResult<T> try_send(T v) {
    if (s_ == nullptr) return {ChannelStatus::nil, std::move(v)};
    std::optional<T> o(std::move(v));
    Waker wk;
    {
      detail::SpinGuard g(s_->lock);
      if (s_->closed) return {ChannelStatus::closed, std::move(o)};
      if (!s_->put(o, wk)) return {ChannelStatus::would_block, std::move(o)};
    }
    std::move(wk).wake();
    return {};
  }
  /// Receives if a message is buffered or a sender waits.
  TryRecv<T> try_recv() {
    if (s_ == nullptr) return {ChannelStatus::nil, std::nullopt};
    TryRecv<T> r;
    Waker wk;
    {
      detail::SpinGuard g(s_->lock);
      if (s_->take(r.value, wk)) {
        r.status = ChannelStatus::ok;
      } else {
        r.status = s_->closed ? ChannelStatus::closed : ChannelStatus::would_block;
      }
    }
    std::move(wk).wake();
    return r;
  }
  Send<T> send(T v) { return Send<T>(s_, std::move(v)); }
  Recv<T> recv() noexcept { return Recv<T>(s_); }
  /// Closes: ok, or closed when it already was (nil for a nil channel).
  ChannelStatus close() {
    if (s_ == nullptr) return ChannelStatus::nil;
    return s_->close();
  }

  [[nodiscard]] bool is_nil() const noexcept { return s_ == nullptr; }
  [[nodiscard]] bool is_closed() const {
    if (s_ == nullptr) return false;
    detail::SpinGuard g(s_->lock);
    return s_->closed;
  }
  /// Buffered messages (a snapshot).
  [[nodiscard]] std::size_t size() const {
    if (s_ == nullptr) return 0;
    detail::SpinGuard g(s_->lock);
    return s_->buf.size();
  }
  /// SIZE_MAX for an unbounded channel.
  [[nodiscard]] std::size_t capacity() const noexcept { return s_ == nullptr ? 0 : s_->cap; }
  /// Parked receivers and senders (a snapshot, for tests and diagnostics).
  [[nodiscard]] std::pair<std::size_t, std::size_t> waiters() const {
    if (s_ == nullptr) return {0, 0};
    std::size_t r = 0, w = 0;
    detail::SpinGuard g(s_->lock);
    for (auto* n = s_->recvq.front(); n != nullptr; n = static_cast<decltype(n)>(n->next)) ++r;
    for (auto* n = s_->sendq.front(); n != nullptr; n = static_cast<decltype(n)>(n->next)) ++w;
    return {r, w};
  }
  friend bool operator==(const Channel& a, const Channel& b) noexcept { return a.s_ == b.s_; }

 private:
  explicit Channel(State* s) noexcept : s_(s) {}
  static State* make(std::size_t cap) { return State::make(cap); }
  State* s_ = nullptr;
};

}  // namespace duet

// duet/channel/broadcast.hpp: every receiver sees every message.
//
// Example (coroutine):
//   auto tx = duet::Broadcast<int>::create(16);   // keeps the last 16 messages
//   auto rx = tx.subscribe();                      // sees what is sent from now on
//   if (tx.send(1) != duet::ChannelStatus::ok) {}  // never waits; closed after close()
//   auto r = co_await rx.recv();
//   if (r.ok()) use(*r.value);
//   else if (r.status == duet::ChannelStatus::lagged) use(r.missed);  // overwritten
//   else { /* closed: close(), or every sender dropped */ }
//
// Senders never block: a receiver that falls more than `capacity` messages
// behind is told how many it missed (lagged) and continues from the oldest
// message still held. After close(), or once the last Broadcast handle is
// dropped, receivers read what they have not seen yet, then get closed. Messages are copied to each
// receiver (T must be copyable). Waiting allocates nothing (the waiter node is in the future).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "duet/channel/detail/shared_state.hpp"
#include "duet/channel/status.hpp"
#include "duet/poll.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"

namespace duet {

/// The name before 0.4, when a broadcast receive had a status of its own
/// (docs/CHANGELOG.md): its values are ChannelStatus's.
using BroadcastStatus [[deprecated("use duet::ChannelStatus")]] = ChannelStatus;

template <class T>
struct [[nodiscard]] BroadcastRecv {
  ChannelStatus status = ChannelStatus::would_block;
  std::optional<T> value;
  std::uint64_t missed = 0;  // for lagged
  [[nodiscard]] bool ok() const noexcept { return status == ChannelStatus::ok; }
};

namespace detail {
template <class T>
struct BroadcastState : SharedState<BroadcastState<T>> {
  explicit BroadcastState(std::size_t cap) : slots(cap) {}
  std::vector<std::optional<T>> slots;  // guarded by lock
  std::uint64_t tail = 0;               // sequence number of the next message

  /// Under the lock: the next message for a receiver at `next`.
  bool read(std::uint64_t& next, BroadcastRecv<T>& out) {
    const std::uint64_t cap = slots.size();
    if (next < tail) {
      if (tail - next > cap) {
        out.status = ChannelStatus::lagged;
        out.missed = tail - cap - next;
        next = tail - cap;
        return true;
      }
      out.status = ChannelStatus::ok;
      out.value = slots[next % cap];
      ++next;
      return true;
    }
    if (this->closed) {
      out.status = ChannelStatus::closed;
      return true;
    }
    return false;
  }
};
}  // namespace detail

template <class T>
class BroadcastReceiver;

template <class T>
class Broadcast {
  using State = detail::BroadcastState<T>;

 public:
  /// A broadcast ring of `capacity` messages (at least 1: a receiver that
  /// falls behind is told how many it missed, so there must be room for
  /// one). Throws std::invalid_argument for 0.
  static Broadcast create(std::size_t capacity) {
    if (capacity == 0)
      throw std::invalid_argument("duet: Broadcast::create(0): capacity must be >= 1");
    return Broadcast(State::make(capacity));
  }
  Broadcast(const Broadcast& o) noexcept : s_(o.s_) {
    s_->ref();
    s_->add_sender();
  }
  Broadcast(Broadcast&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Broadcast& operator=(Broadcast o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  /// Dropping the last sender handle closes the channel (as in Tokio):
  /// receivers read what is left, then see closed.
  ~Broadcast() {
    if (s_ == nullptr) return;
    if (s_->drop_sender()) s_->close();
    s_->unref();
  }

  /// Publishes `v` to every receiver (never waits): ok; or closed after
  /// close(), with `v` given back, as every channel's send does.
  SendResult<T> send(T v) {
    {
      detail::SpinGuard g(s_->lock);
      if (s_->closed) return {ChannelStatus::closed, std::move(v)};
      s_->slots[s_->tail % s_->slots.size()] = std::move(v);
      ++s_->tail;
      if (s_->waiters.empty()) return {};
    }
    s_->wake_all();
    return {};
  }
  ChannelStatus close() { return s_->close() ? ChannelStatus::ok : ChannelStatus::closed; }
  /// A receiver that sees every message sent from now on.
  BroadcastReceiver<T> subscribe() {
    detail::SpinGuard g(s_->lock);
    return BroadcastReceiver<T>(s_, s_->tail);
  }

 private:
  explicit Broadcast(State* s) noexcept : s_(s) {}
  State* s_;
};

template <class T>
class BroadcastReceiver {
  using State = detail::BroadcastState<T>;

 public:
  BroadcastReceiver(State* s, std::uint64_t next) noexcept : s_(s), next_(next) { s_->ref(); }
  BroadcastReceiver(const BroadcastReceiver& o) noexcept : s_(o.s_), next_(o.next_) { s_->ref(); }
  BroadcastReceiver(BroadcastReceiver&& o) noexcept
      : s_(std::exchange(o.s_, nullptr)), next_(o.next_) {}
  BroadcastReceiver& operator=(BroadcastReceiver o) noexcept {
    std::swap(s_, o.s_);
    next_ = o.next_;
    return *this;
  }
  ~BroadcastReceiver() {
    if (s_ != nullptr) s_->unref();
  }

  BroadcastRecv<T> try_recv() {
    BroadcastRecv<T> out;
    detail::SpinGuard g(s_->lock);
    s_->read(next_, out);
    return out;
  }

  /// The poll future of recv(): ok with a message, lagged, or closed.
  class [[nodiscard]] Recv {
   public:
    explicit Recv(BroadcastReceiver* r) noexcept : r_(r) {}
    Recv(Recv&& o) noexcept : r_(o.r_) {
      // Status rule (duet/sync/detail/wait_list.hpp).
      if (o.w_.status.load(std::memory_order_relaxed) != detail::st_idle) {
        detail::moved_while_linked();
      }
    }
    Recv& operator=(Recv&&) = delete;
    ~Recv() {
      // Acquire: a notifier that completed this waiter wrote into it (moved
      // its waker out) before its release store; those writes must
      // happen-before the node's members are destroyed here.
      if (w_.status.load(std::memory_order_acquire) == detail::st_queued) {
        detail::SpinGuard g(r_->s_->lock);
        // Status rule (duet/sync/detail/wait_list.hpp).
        if (w_.status.load(std::memory_order_relaxed) == detail::st_queued) {
          r_->s_->waiters.remove(&w_);
          // Status rule (duet/sync/detail/wait_list.hpp).
          w_.status.store(detail::st_idle, std::memory_order_relaxed);
        }
      }
    }
    Poll<BroadcastRecv<T>> poll(Context& cx) {
      // A wake only means "look again": nothing was handed to us, so a
      // Recv dropped after its wake loses nothing.
      State* s = r_->s_;
      BroadcastRecv<T> out;
      detail::SpinGuard g(s->lock);
      if (s->read(r_->next_, out)) {
        // Status rule (duet/sync/detail/wait_list.hpp).
        if (w_.status.load(std::memory_order_relaxed) == detail::st_queued) {
          s->waiters.remove(&w_);
        }
        // Status rule (duet/sync/detail/wait_list.hpp).
        w_.status.store(detail::st_idle, std::memory_order_relaxed);
        return out;
      }
      // Status rule (duet/sync/detail/wait_list.hpp).
      if (w_.status.load(std::memory_order_relaxed) == detail::st_queued) {
        w_.update_waker(cx.waker());
      } else {
        w_.waker = cx.waker();
        // Status rule (duet/sync/detail/wait_list.hpp).
        w_.status.store(detail::st_queued, std::memory_order_relaxed);
        s->waiters.push_back(&w_);
      }
      return pending;
    }

   private:
    BroadcastReceiver* r_;
    detail::WaitNode w_;
  };
  Recv recv() noexcept { return Recv(this); }

 private:
  State* s_;
  std::uint64_t next_;  // sequence number of the next message to read
};

}  // namespace duet

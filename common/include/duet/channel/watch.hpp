// duet/channel/watch.hpp: the latest value, and a wait for the next change.
//
// Example (coroutine):
//   auto tx = duet::Watch<Config>::create(load_config());
//   auto rx = tx.subscribe();
//   if (tx.send(Config{2}) != duet::ChannelStatus::ok) {}  // replaces the value, wakes waiters
//   if (co_await rx.changed() == duet::ChannelStatus::ok) use(rx.borrow_and_update());
//
// A receiver sees only the latest value: intermediate ones may be skipped.
// changed() completes when the version moved past what the receiver has
// seen (ok, and marks it seen), or with closed once the channel is closed
// (close(), or the last Watch handle dropped) and nothing new is left. borrow() copies the value
// out under the lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "duet/channel/detail/shared_state.hpp"
#include "duet/channel/status.hpp"
#include "duet/poll.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"

namespace duet {

namespace detail {
template <class T>
struct WatchState : SharedState<WatchState<T>> {
  explicit WatchState(T v) : value(std::move(v)) {}
  T value;                    // guarded by lock
  std::uint64_t version = 0;  // guarded by lock
};
}  // namespace detail

template <class T>
class WatchReceiver;

template <class T>
class Watch {
  using State = detail::WatchState<T>;

 public:
  static Watch create(T initial) { return Watch(State::make(std::move(initial))); }
  Watch(const Watch& o) noexcept : s_(o.s_) {
    s_->ref();
    s_->add_sender();
  }
  Watch(Watch&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Watch& operator=(Watch o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  /// Dropping the last sender handle closes the channel (as in Tokio):
  /// receivers read what is left, then see closed.
  ~Watch() {
    if (s_ == nullptr) return;
    if (s_->drop_sender()) s_->close();
    s_->unref();
  }

  /// Replaces the value and wakes every waiting receiver: ok; or closed
  /// after close(), with `v` given back, as every channel's send does.
  SendResult<T> send(T v) {
    {
      detail::SpinGuard g(s_->lock);
      if (s_->closed) return {ChannelStatus::closed, std::move(v)};
      s_->value = std::move(v);
      ++s_->version;
    }
    s_->wake_all();
    return {};
  }
  ChannelStatus close() { return s_->close() ? ChannelStatus::ok : ChannelStatus::closed; }
  [[nodiscard]] T borrow() const {
    detail::SpinGuard g(s_->lock);
    return s_->value;
  }
  /// A receiver that has seen the current value.
  WatchReceiver<T> subscribe() {
    detail::SpinGuard g(s_->lock);
    return WatchReceiver<T>(s_, s_->version);
  }

 private:
  explicit Watch(State* s) noexcept : s_(s) {}
  State* s_;
};

template <class T>
class WatchReceiver {
  using State = detail::WatchState<T>;

 public:
  WatchReceiver(State* s, std::uint64_t seen) noexcept : s_(s), seen_(seen) { s_->ref(); }
  WatchReceiver(const WatchReceiver& o) noexcept : s_(o.s_), seen_(o.seen_) { s_->ref(); }
  WatchReceiver(WatchReceiver&& o) noexcept : s_(std::exchange(o.s_, nullptr)), seen_(o.seen_) {}
  ~WatchReceiver() {
    if (s_ != nullptr) s_->unref();
  }

  /// The latest value (a copy); marks it seen.
  T borrow_and_update() {
    detail::SpinGuard g(s_->lock);
    seen_ = s_->version;
    return s_->value;
  }
  [[nodiscard]] T borrow() const {
    detail::SpinGuard g(s_->lock);
    return s_->value;
  }
  [[nodiscard]] bool has_changed() const {
    detail::SpinGuard g(s_->lock);
    return s_->version != seen_;
  }

  class [[nodiscard]] Changed {
   public:
    explicit Changed(WatchReceiver* r) noexcept : r_(r) {}
    Changed(Changed&& o) noexcept : r_(o.r_) {
      // Status rule (duet/sync/detail/wait_list.hpp).
      if (o.w_.status.load(std::memory_order_relaxed) != detail::st_idle) {
        detail::moved_while_linked();
      }
    }
    Changed& operator=(Changed&&) = delete;
    ~Changed() {
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
    Poll<ChannelStatus> poll(Context& cx) {
      State* s = r_->s_;
      detail::SpinGuard g(s->lock);
      // Status rule (duet/sync/detail/wait_list.hpp).
      const bool queued = w_.status.load(std::memory_order_relaxed) == detail::st_queued;
      if (s->version != r_->seen_ || s->closed) {
        if (queued) s->waiters.remove(&w_);
        // Status rule (duet/sync/detail/wait_list.hpp).
        w_.status.store(detail::st_idle, std::memory_order_relaxed);
        if (s->version != r_->seen_) {
          r_->seen_ = s->version;
          return ChannelStatus::ok;
        }
        return ChannelStatus::closed;
      }
      if (queued) {
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
    WatchReceiver* r_;
    detail::WaitNode w_;
  };
  Changed changed() noexcept { return Changed(this); }

 private:
  State* s_;
  std::uint64_t seen_;
};

}  // namespace duet

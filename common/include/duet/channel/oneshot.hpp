// duet/channel/oneshot.hpp: one value, from one sender to one receiver.
//
// Example (coroutine):
//   auto [tx, rx] = duet::oneshot<int>();
//   if (!tx.send(42)) { /* the receiver is gone */ }  // never waits
//   std::optional<int> v = co_await rx;              // empty: sender dropped
//
// The receiver is itself the poll future (await it, duet::wait(rx), or
// rx.try_recv()). The receiver's waker lives in the shared state, which is
// allocated once by oneshot(): waiting allocates nothing.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <utility>

#include "duet/channel/detail/ref_counted.hpp"
#include "duet/channel/status.hpp"
#include "duet/poll.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/waker.hpp"

namespace duet {

namespace detail {
template <class T>
struct OneshotState : RefCounted<OneshotState<T>> {
  OneshotState() noexcept : RefCounted<OneshotState<T>>(2) {}  // the sender and the receiver
  detail::SpinLock lock;
  std::optional<T> value;  // guarded by lock
  Waker rx_waker;          // guarded by lock
  bool tx_gone = false;    // sent or dropped
  bool rx_gone = false;
};
}  // namespace detail

template <class T>
class OneshotSender {
  using State = detail::OneshotState<T>;

 public:
  explicit OneshotSender(State* s) noexcept : s_(s) {}
  OneshotSender(OneshotSender&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  OneshotSender& operator=(OneshotSender&& o) noexcept {
    if (this != &o) {
      drop();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  ~OneshotSender() { drop(); }

  /// Delivers the value: ok, or closed (value handed back) when the
  /// receiver is gone or a value was already sent.
  SendResult<T> send(T v) {
    if (s_ == nullptr) return {ChannelStatus::closed, std::move(v)};
    Waker w;
    {
      detail::SpinGuard g(s_->lock);
      if (s_->rx_gone) return {ChannelStatus::closed, std::move(v)};
      s_->value.emplace(std::move(v));
      s_->tx_gone = true;
      w = std::move(s_->rx_waker);
    }
    std::exchange(s_, nullptr)->unref();
    std::move(w).wake();
    return {};
  }
  /// True when the receiver was dropped (sending would fail).
  [[nodiscard]] bool is_closed() const {
    if (s_ == nullptr) return true;
    detail::SpinGuard g(s_->lock);
    return s_->rx_gone;
  }

 private:
  void drop() noexcept {
    if (s_ == nullptr) return;
    Waker w;
    {
      detail::SpinGuard g(s_->lock);
      s_->tx_gone = true;
      w = std::move(s_->rx_waker);
    }
    std::exchange(s_, nullptr)->unref();
    std::move(w).wake();
  }
  State* s_;
};

template <class T>
class OneshotReceiver {
  using State = detail::OneshotState<T>;

 public:
  explicit OneshotReceiver(State* s) noexcept : s_(s) {}
  OneshotReceiver(OneshotReceiver&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  OneshotReceiver& operator=(OneshotReceiver&& o) noexcept {
    if (this != &o) {
      drop();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  ~OneshotReceiver() { drop(); }

  /// Ready with the value, or with an empty optional when the sender was
  /// dropped without sending.
  Poll<std::optional<T>> poll(Context& cx) {
    if (s_ == nullptr) return std::optional<T>();
    detail::SpinGuard g(s_->lock);
    if (s_->value) return take_locked();
    if (s_->tx_gone) return std::optional<T>();
    if (!s_->rx_waker.will_wake(cx.waker())) s_->rx_waker = cx.waker();
    return pending;
  }
  TryRecv<T> try_recv() {
    if (s_ == nullptr) return {ChannelStatus::closed, std::nullopt};
    detail::SpinGuard g(s_->lock);
    if (s_->value) return {ChannelStatus::ok, take_locked()};
    return {s_->tx_gone ? ChannelStatus::closed : ChannelStatus::would_block, std::nullopt};
  }

 private:
  std::optional<T> take_locked() {
    std::optional<T> v = std::move(s_->value);
    s_->value.reset();
    return v;
  }
  void drop() noexcept {
    if (s_ == nullptr) return;
    Waker w;
    {
      detail::SpinGuard g(s_->lock);
      s_->rx_gone = true;
      w = std::move(s_->rx_waker);
    }
    std::exchange(s_, nullptr)->unref();
  }
  State* s_;
};

template <class T>
std::pair<OneshotSender<T>, OneshotReceiver<T>> oneshot() {
  auto* s = detail::OneshotState<T>::make();
  return {OneshotSender<T>(s), OneshotReceiver<T>(s)};
}

}  // namespace duet

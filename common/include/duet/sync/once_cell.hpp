// duet/sync/once_cell.hpp: a value initialised once, by whoever asks first.
//
// Example (coroutine):
//   duet::OnceCell<Config> cell;
//   const Config& c = co_await cell.get_or_init([] { return load_config(); });
//   // or asynchronously: the function may return a poll future (a JoinHandle,
//   // a channel recv, ...) whose output is the value:
//   const Config& d = co_await cell.get_or_init([] { return duet::spawn(fetch_config()); });
//   if (const Config* p = cell.get()) use(*p);  // tier 1
//
// Concurrent callers wait (no allocation) while the first one initialises.
// If the initialiser fails (throws) or is cancelled mid-way, the cell stays
// empty and one of the waiters takes over.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "duet/poll.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"

namespace duet {

template <class T>
class OnceCell {
  enum : std::uint8_t { empty = 0, initializing = 1, ready = 2 };

 public:
  OnceCell() noexcept = default;
  OnceCell(const OnceCell&) = delete;
  OnceCell& operator=(const OnceCell&) = delete;
  ~OnceCell() {
    // Relaxed: under lock_ (or in the destructor: no other user left).
    if (state_.load(std::memory_order_relaxed) == ready) std::destroy_at(ptr());
  }

  /// The value, or null while it is not set.
  [[nodiscard]] const T* get() const noexcept {
    // Acquire: pairs with the release in finish(): the value is visible.
    return state_.load(std::memory_order_acquire) == ready ? ptr() : nullptr;
  }
  /// Sets the value if nobody did (or is doing so): false otherwise.
  bool set(T v) {
    {
      detail::SpinGuard g(lock_);
      if (state_.load(std::memory_order_relaxed) != empty) return false;
      // Relaxed: under lock_ (or in the destructor: no other user left).
      state_.store(initializing, std::memory_order_relaxed);
    }
    finish(std::move(v));
    return true;
  }

  template <class F>
  class [[nodiscard]] GetOrInit {
    using R = std::invoke_result_t<F&>;
    static constexpr bool is_async = Future<R>;
    struct NoFut {};
    using Fut = std::conditional_t<is_async, R, NoFut>;

   public:
    GetOrInit(OnceCell* c, F f) : c_(c), f_(std::move(f)) {}
    GetOrInit(GetOrInit&& o) : c_(o.c_), f_(std::move(o.f_)) {
      // Status rule (duet/sync/detail/wait_list.hpp).
      if (o.w_.status.load(std::memory_order_relaxed) != detail::st_idle || o.mine_) {
        detail::moved_while_linked();
      }
    }
    GetOrInit& operator=(GetOrInit&&) = delete;
    ~GetOrInit() {
      // Acquire: a notifier that completed this waiter wrote into it (moved
      // its waker out) before its release store; those writes must
      // happen-before the node's members are destroyed here.
      if (w_.status.load(std::memory_order_acquire) == detail::st_queued) c_->unlink(w_);
      if (mine_) {
        fut_.reset();
        c_->abandon();  // cancelled mid-way: let a waiter take over
      }
    }

    Poll<std::reference_wrapper<const T>> poll(Context& cx) {
      for (;;) {
        if (const T* v = c_->get()) return std::cref(*v);
        if (mine_) return drive(cx);
        // Our waiter was woken (value set or initialiser gone): re-check.
        if (w_.load_status() >= detail::st_done) {
          w_.status.store(detail::st_idle, std::memory_order_relaxed);
        }
        detail::SpinGuard g(c_->lock_);
        // Relaxed: under lock_ (or in the destructor: no other user left).
        auto st = c_->state_.load(std::memory_order_relaxed);
        if (st == ready) continue;
        if (st == empty) {
          // Relaxed: under lock_ (or in the destructor: no other user left).
          c_->state_.store(initializing, std::memory_order_relaxed);
          mine_ = true;
          continue;  // drive() outside the lock
        }
        if (w_.status.load(std::memory_order_relaxed) == detail::st_queued) {
          w_.update_waker(cx.waker());
        } else {
          w_.waker = cx.waker();
          // Status rule (duet/sync/detail/wait_list.hpp).
          w_.status.store(detail::st_queued, std::memory_order_relaxed);
          c_->waiters_.push_back(&w_);
        }
        return pending;
      }
    }

   private:
    Poll<std::reference_wrapper<const T>> drive(Context& cx) {
      try {
        if constexpr (is_async) {
          if (!fut_) fut_.emplace(std::invoke(f_));
          auto p = fut_->poll(cx);
          if (p.is_pending()) return pending;
          T v = std::move(p).value();
          fut_.reset();
          mine_ = false;
          c_->finish(std::move(v));
        } else {
          T v = std::invoke(f_);
          mine_ = false;
          c_->finish(std::move(v));
        }
      } catch (...) {
        if (mine_) {
          mine_ = false;
          fut_.reset();
          c_->abandon();
        }
        throw;
      }
      return std::cref(*c_->ptr());
    }

    OnceCell* c_;
    F f_;
    std::optional<Fut> fut_;
    bool mine_ = false;
    detail::WaitNode w_;
  };

  template <class F>
  GetOrInit<F> get_or_init(F f) {
    return GetOrInit<F>(this, std::move(f));
  }

 private:
  const T* ptr() const noexcept { return std::launder(reinterpret_cast<const T*>(buf_)); }
  T* ptr() noexcept { return std::launder(reinterpret_cast<T*>(buf_)); }
  void finish(T&& v) {
    std::construct_at(reinterpret_cast<T*>(buf_), std::move(v));
    wake_all(ready);
  }
  void abandon() noexcept { wake_all(empty); }
  void wake_all(std::uint8_t st) noexcept {
    detail::drain_in_batches(lock_, [&, first = true](detail::WakeBatch& b) mutable {
      // Release: a reader that sees `ready` sees the value.
      if (std::exchange(first, false)) state_.store(st, std::memory_order_release);
      return complete_into(waiters_, b, detail::st_done);
    });
  }
  void unlink(detail::WaitNode& w) noexcept {
    detail::SpinGuard g(lock_);
    // Status rule (duet/sync/detail/wait_list.hpp).
    if (w.status.load(std::memory_order_relaxed) == detail::st_queued) {
      waiters_.remove(&w);
      // Status rule (duet/sync/detail/wait_list.hpp).
      w.status.store(detail::st_idle, std::memory_order_relaxed);
    }
  }

  std::atomic<std::uint8_t> state_{empty};
  detail::SpinLock lock_;
  detail::WaitList<> waiters_;
  alignas(T) unsigned char buf_[sizeof(T)];
};

}  // namespace duet

// duet/bridge.hpp: a foreign awaitable, or a callback API, as a poll future.
//
// Other async libraries hand out two shapes: a C++20 awaitable (an
// Asio-style operation, a library's own coroutine type) and a completion
// callback (`api.async_op(args, [](Result r) { ... })`). A duet::Task
// co_awaits only poll futures (the scheduler must be able to re-poll what a
// task waits on), so these two bridges turn either shape into one. What
// they return goes wherever a poll future goes: co_await in a Task,
// duet::wait in a fiber or on a plain thread, select, timeout, join,
// rt.spawn.
//
// Example (coroutine):
//   int n = co_await duet::from_awaitable(legacy_read());   // any C++20 awaitable
//   auto r = co_await duet::timeout(1s, duet::from_awaitable(legacy_read()));
//   auto [done, fut] = duet::callback_future<std::error_code, std::string>();
//   legacy_fetch("key", done);                   // the callback, copied into the API
//   std::optional<std::tuple<std::error_code, std::string>> v = co_await fut;
//   use(n, r, v);                                // v empty: the API dropped `done` uncalled
//
// Example (fiber):
//   int n = duet::wait(duet::from_awaitable(legacy_read()));
//   auto [done, fut] = duet::callback_future<std::error_code, std::string>();
//   legacy_fetch("key", done);
//   auto v = duet::wait(std::move(fut));
//   use(n, v);
//
// ---- from_awaitable(a) ------------------------------------------------------
//
// The first poll finds the awaiter as `co_await a` would (a member operator
// co_await, else a free one, else `a` itself) and asks await_ready(). If it
// is not ready, the poll stores a clone of its waker and calls
// await_suspend(h), where `h` is the handle of a tiny internal coroutine,
// the resumer (one frame per adapter, made at that first poll). Resuming
// `h`, on any thread and at any time (inside await_suspend included), runs
// the resumer to its end: it records the end, wakes the stored waker and
// frees its own frame. The poll after that calls await_resume(), whose
// result (decayed; void gives Poll<void>) or exception is the future's.
// await_suspend's result is honoured as a coroutine's would be:
//   - void or true: suspended, and `h` is resumed later (or already was).
//   - false: not suspended, so await_resume() at once.
//   - a coroutine handle: resumed by the poll (symmetric transfer), and
//     when it is `h` itself, that resume ends the await at once.
//   - an exception: the awaitable did not take `h`, and the poll rethrows it.
// A re-poll by another task or worker replaces the stored waker (Waker::
// will_wake), so the wake goes to whoever polled last.
//
// What lives where. The awaitable (moved in when given as an rvalue; an
// lvalue is referred to, as `co_await a` does, and must outlive the
// operation), its awaiter, the end flag and the waker are one
// reference-counted block shared by the adapter and, while the foreign side
// holds `h`, by the resumer's frame. So dropping the adapter while the
// operation is pending frees nothing the foreign side can still touch: the
// awaiter the operation writes its result into, and the frame it resumes,
// live until that resume, and then the last reference frees them on the
// resuming thread. Dropping it does not cancel the operation (a C++
// awaitable has no way to be cancelled from outside): a select or timeout
// that drops one that lost lets the foreign operation run to its end, its
// result discarded. An operation that never resumes `h` keeps that block
// forever; one that destroys `h` instead of resuming it (a library shutting
// down) ends the future with std::runtime_error.
//
// Ordering: the resumer stores the end with release after everything the
// foreign side wrote before resuming `h`; the poll loads it with acquire
// before await_resume() reads those writes. The waker is guarded by a spin
// lock that the resumer also takes to take the waker: a poll that stores
// its waker after the resumer took the old one finds the end under the same
// lock, so no wake is lost.
//
// ---- callback_future<Args...>() -------------------------------------------
//
// `auto [done, fut] = duet::callback_future<Args...>();` returns a
// OnceCallback<Args...> `done`, to hand to the API as its callback, and a
// poll future `fut` (a OneshotReceiver) of std::optional<V>, where V is the
// decayed argument type for one argument and std::tuple of them otherwise.
//   - `done` is copyable (std::function and APIs that copy their handler
//     accept it); every copy shares one slot.
//   - The first call of any copy delivers, from any thread: a lock, a store
//     and a wake, never a wait. It returns true.
//   - A later call returns false and drops its arguments; so does a call
//     after `fut` was dropped. It never throws for that: an exception
//     thrown into a library's completion thread unwinds code that does not
//     expect it, and a false result is visible to a caller that cares.
//   - When every copy is destroyed uncalled (the API dropped its handler,
//     as a cancelled or shut-down library does), `fut` yields an empty
//     optional instead of waiting forever.
// Why not a bare duet::oneshot: its sender is move-only (a std::function
// rejects it), takes one value (a callback often passes an error code and a
// size), and needs the caller to spell out the dropped-uncalled case. The
// wrapper adds those and nothing else: the future is the oneshot's
// receiver. (OnceCallback also wraps a sender you made: OnceCallback(tx).)
#pragma once

#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

#include "duet/channel/oneshot.hpp"
#include "duet/poll.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/waker.hpp"

namespace duet {

namespace detail {

/// `co_await a` finds its awaiter in one of three ways, in this order.
template <class A>
concept member_co_await = requires(A&& a) {
  static_cast<A&&>(a).operator co_await();
};
template <class A>
concept free_co_await = requires(A&& a) {
  operator co_await(static_cast<A&&>(a));
};

/// The awaiter of `a`: a prvalue from an operator co_await, or a reference
/// (to `a` itself, or what an operator co_await returned by reference).
template <class A>
decltype(auto) awaiter_of(A&& a) {
  if constexpr (member_co_await<A>) {
    return static_cast<A&&>(a).operator co_await();
  } else if constexpr (free_co_await<A>) {
    return operator co_await(static_cast<A&&>(a));
  } else {
    return static_cast<A&&>(a);
  }
}

template <class A>
using awaiter_result_t = decltype(awaiter_of(std::declval<A>()));

template <class H>
inline constexpr bool is_coroutine_handle_v = false;
template <class P>
inline constexpr bool is_coroutine_handle_v<std::coroutine_handle<P>> = true;

/// The awaiter protocol, for an awaiter that takes any coroutine's handle
/// (one that needs its own promise type cannot be driven from outside it).
template <class W>
concept std_awaiter = requires(W& w, std::coroutine_handle<> h) {
  { w.await_ready() } -> std::convertible_to<bool>;
  w.await_suspend(h);
  w.await_resume();
}
&&(std::is_void_v<decltype(std::declval<W&>().await_suspend(std::coroutine_handle<>()))> ||
   std::same_as<decltype(std::declval<W&>().await_suspend(std::coroutine_handle<>())), bool> ||
   is_coroutine_handle_v<decltype(std::declval<W&>().await_suspend(std::coroutine_handle<>()))>);

template <class A>
using awaiter_type_t = std::remove_reference_t<awaiter_result_t<A>>;

template <class A>
using await_resume_t = decltype(std::declval<awaiter_type_t<A>&>().await_resume());

/// Builds an object in place from a function's prvalue, so that an awaiter
/// that cannot be moved is still stored (the conversion's result
/// initializes the object directly).
template <class F>
struct BuiltBy {
  F make;
  operator std::invoke_result_t<F&>() { return make(); }  // NOLINT: implicit by design
};

/// The part of a bridged await that its resumer sees: how it ended, and
/// whom to wake. Shared by the adapter and the resumer's frame.
class ForeignWait {
 public:
  enum End : std::uint8_t { pending = 0, resumed = 1, destroyed = 2 };

  /// The foreign side resumed (or destroyed) the resumer. Release: whoever
  /// loads the end with acquire sees what the foreign side wrote before
  /// resuming (the result in the awaiter). The end is stored under the lock
  /// that guards the waker, so a poll that registers after this took the
  /// waker sees the end (register_waker).
  void finish(End how) noexcept {
    Waker w;
    {
      SpinGuard g(lock_);
      end_.store(how, std::memory_order_release);
      w = std::move(waker_);
    }
    std::move(w).wake();
  }
  /// How it ended so far. Acquire: pairs with finish's release store.
  [[nodiscard]] End end() const noexcept { return end_.load(std::memory_order_acquire); }
  /// Keeps a clone of `w` to wake at the end (unless the kept one wakes the
  /// same target). False when the end came first: then nobody will wake.
  bool register_waker(const Waker& w) noexcept {
    Waker old;  // dropped after the lock: a drop may free a task
    SpinGuard g(lock_);
    // Relaxed: the lock orders this load after finish's store.
    if (end_.load(std::memory_order_relaxed) != pending) return false;
    if (!waker_.will_wake(w)) old = std::exchange(waker_, w);
    return true;
  }
  /// Forgets the kept waker (the waiter is gone, or done).
  void drop_waker() noexcept {
    Waker old;
    SpinGuard g(lock_);
    old = std::move(waker_);
  }

 private:
  SpinLock lock_;
  std::atomic<End> end_{pending};
  Waker waker_;  // guarded by lock_
};

/// The coroutine whose handle a foreign await_suspend receives. It is made
/// suspended at its start; resuming it runs it to its end, which frees its
/// frame (final_suspend never suspends). While the foreign side holds the
/// handle, the promise holds a reference to the shared state and reports
/// the end to it from its destructor: resumed when the body ran, destroyed
/// when the foreign side destroyed the handle without resuming it.
class Resumer {
 public:
  struct promise_type {
    std::shared_ptr<ForeignWait> wait;  // set while the foreign side holds the handle
    bool ran = false;

    Resumer get_return_object() noexcept {
      return Resumer(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept { ran = true; }
    void unhandled_exception() noexcept { std::terminate(); }  // its body cannot throw
    promise_type() = default;
    promise_type(const promise_type&) = delete;
    promise_type& operator=(const promise_type&) = delete;
    ~promise_type() {
      if (wait) wait->finish(ran ? ForeignWait::resumed : ForeignWait::destroyed);
    }
  };
  using Handle = std::coroutine_handle<promise_type>;

  Resumer(Resumer&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Resumer& operator=(Resumer&&) = delete;
  ~Resumer() {
    if (h_) h_.destroy();
  }

  [[nodiscard]] promise_type& promise() const noexcept { return h_.promise(); }
  /// Gives the frame up (to the foreign side).
  [[nodiscard]] Handle release() noexcept { return std::exchange(h_, nullptr); }
  /// Takes back a frame the foreign side did not keep (await_suspend said
  /// it did not suspend, or threw) and frees it, reporting nothing.
  static void reclaim(Handle h) noexcept {
    h.promise().wait.reset();
    h.destroy();
  }

 private:
  explicit Resumer(Handle h) noexcept : h_(h) {}
  Handle h_;
};

inline Resumer make_resumer() {
  co_return;
}

/// The shared block of one bridged await: the awaitable (a reference to an
/// lvalue, or the rvalue moved in), its awaiter once the first poll found
/// it, and the ForeignWait.
template <class A>
class AwaitableState : public ForeignWait {
  using Ret = awaiter_result_t<A>;
  using Held = std::conditional_t<std::is_lvalue_reference_v<A>, A, std::remove_cvref_t<A>>;

 public:
  using Awaiter = awaiter_type_t<A>;

  template <class U>
  explicit AwaitableState(U&& a) : awaitable_(std::forward<U>(a)) {}

  /// Finds the awaiter, once, as `co_await a` would.
  Awaiter& start() {
    if constexpr (std::is_reference_v<Ret>) {
      auto&& w = awaiter_of(static_cast<A&&>(awaitable_));
      awaiter_ = std::addressof(w);
      return w;
    } else {
      auto make = [this]() -> Ret { return awaiter_of(static_cast<A&&>(awaitable_)); };
      return awaiter_.emplace(BuiltBy<decltype(make)>{make});
    }
  }
  /// The awaiter start() found.
  Awaiter& awaiter() noexcept { return *awaiter_; }

 private:
  Held awaitable_;
  std::conditional_t<std::is_reference_v<Ret>, Awaiter*, std::optional<Awaiter>> awaiter_{};
};

template <class>
inline constexpr bool bridge_rejects_v = false;

/// A callback's arguments as one value.
template <class... Args>
struct CallbackValue {
  using type = std::tuple<std::decay_t<Args>...>;
};
template <class A>
struct CallbackValue<A> {
  using type = std::decay_t<A>;
};

}  // namespace detail

/// A C++20 awaitable that a duet future can drive: its awaiter (itself, or
/// what its operator co_await returns) has await_ready(), await_resume()
/// and an await_suspend(std::coroutine_handle<>) that returns void, bool or
/// a coroutine handle.
template <class A>
concept Awaitable = requires {
  typename detail::awaiter_result_t<A>;
}
&&detail::std_awaiter<detail::awaiter_type_t<A>>;

/// What `co_await a` gives, decayed (a future yields values): void stays
/// void.
template <Awaitable A>
using awaitable_output_t = std::conditional_t<std::is_void_v<detail::await_resume_t<A>>, void,
                                              std::remove_cvref_t<detail::await_resume_t<A>>>;

/// The poll future of from_awaitable(a) (the header comment says how it
/// works). Movable at any time: what the foreign side holds is not in it.
template <class A>
class [[nodiscard]] AwaitableFuture {
  using State = detail::AwaitableState<A>;
  using T = awaitable_output_t<A>;

 public:
  explicit AwaitableFuture(std::shared_ptr<State> s) noexcept : s_(std::move(s)) {}
  AwaitableFuture(AwaitableFuture&& o) noexcept
      : s_(std::move(o.s_)), phase_(std::exchange(o.phase_, Phase::ended)) {}
  AwaitableFuture& operator=(AwaitableFuture&& o) noexcept {
    if (this != &o) {
      leave();
      s_ = std::move(o.s_);
      phase_ = std::exchange(o.phase_, Phase::ended);
    }
    return *this;
  }
  AwaitableFuture(const AwaitableFuture&) = delete;
  AwaitableFuture& operator=(const AwaitableFuture&) = delete;
  /// Dropped while the operation is pending: forgets the waker; the shared
  /// block lives on until the foreign side resumes (header comment).
  ~AwaitableFuture() { leave(); }

  Poll<T> poll(Context& cx) {
    if (phase_ == Phase::waiting) {
      if (s_->end() != detail::ForeignWait::pending || !s_->register_waker(cx.waker()))
        return finish();
      return pending;
    }
    if (phase_ == Phase::fresh) return start(cx);
    throw std::logic_error("duet::from_awaitable: polled after it was ready (or moved from)");
  }

 private:
  enum class Phase : std::uint8_t { fresh, waiting, ended };

  Poll<T> start(Context& cx) {
    phase_ = Phase::ended;  // until the operation is known to wait: a throw below ends it
    auto& w = s_->start();
    if (w.await_ready()) return finish();
    detail::Resumer r = detail::make_resumer();
    // Before the hand-out: `h` may be resumed at once, on any thread.
    s_->register_waker(cx.waker());
    r.promise().wait = s_;  // the foreign side's reference
    const auto h = r.release();
    const std::coroutine_handle<> erased = h;
    using Suspend = decltype(w.await_suspend(erased));
    bool suspended = true;
    std::coroutine_handle<> next;  // symmetric transfer: what to resume now
    try {
      if constexpr (std::is_void_v<Suspend>) {
        w.await_suspend(erased);
      } else if constexpr (std::is_same_v<Suspend, bool>) {
        suspended = w.await_suspend(erased);
      } else {
        next = w.await_suspend(erased);
      }
    } catch (...) {
      detail::Resumer::reclaim(h);  // not taken: the foreign side will not resume it
      throw;
    }
    if (!suspended) {
      detail::Resumer::reclaim(h);
      return finish();
    }
    phase_ = Phase::waiting;
    if (next) next.resume();  // a throw from it leaves `h` with the foreign side: still waiting
    if (s_->end() != detail::ForeignWait::pending) return finish();
    return pending;
  }

  Poll<T> finish() {
    phase_ = Phase::ended;
    s_->drop_waker();
    if (s_->end() == detail::ForeignWait::destroyed)
      throw std::runtime_error(
          "duet::from_awaitable: the awaitable destroyed the coroutine handle it was given "
          "without resuming it");
    if constexpr (std::is_void_v<T>) {
      s_->awaiter().await_resume();
      return ready();
    } else {
      return Poll<T>(s_->awaiter().await_resume());
    }
  }

  void leave() noexcept {
    if (s_ != nullptr && phase_ == Phase::waiting) s_->drop_waker();
    s_.reset();
  }

  std::shared_ptr<State> s_;
  Phase phase_ = Phase::fresh;
};

/// A poll future of `co_await a` for any C++20 awaitable `a` (the header
/// comment says how, and what dropping it while pending means). An rvalue
/// is moved into the future; an lvalue is referred to and must outlive it.
template <class A>
auto from_awaitable(A&& a) {
  if constexpr (Future<std::remove_cvref_t<A>>) {
    static_assert(detail::bridge_rejects_v<A>,
                  "duet::from_awaitable: this is already a poll future (a Task, a JoinHandle, a "
                  "duet operation): co_await it, or duet::wait it, directly");
  } else if constexpr (!Awaitable<A>) {
    static_assert(detail::bridge_rejects_v<A>,
                  "duet::from_awaitable needs a C++20 awaitable: await_ready(), "
                  "await_suspend(std::coroutine_handle<>) returning void, bool or a "
                  "coroutine_handle, and await_resume(); or an operator co_await returning one");
  } else {
    return AwaitableFuture<A>(std::make_shared<detail::AwaitableState<A>>(std::forward<A>(a)));
  }
}

/// The value a callback of `Args...` delivers: the decayed argument for
/// one, a std::tuple of them otherwise.
template <class... Args>
using callback_value_t = typename detail::CallbackValue<Args...>::type;

/// A callback usable exactly once, from any thread, however often it is
/// copied: the first call delivers its arguments to the future paired with
/// it and returns true; a later call, or one after the future was dropped,
/// returns false. The last copy destroyed uncalled ends the future empty.
template <class... Args>
class OnceCallback {
 public:
  using value_type = callback_value_t<Args...>;

  /// Wraps the sender of a oneshot whose receiver is the future.
  explicit OnceCallback(OneshotSender<value_type> tx)
      : s_(std::make_shared<Shared>(std::move(tx))) {}

  bool operator()(Args... args) const {
    if (s_ == nullptr) return false;  // moved from
    // Relaxed: the exchange only elects one caller; the sender is touched by
    // it and then by the last copy's destructor, which shared_ptr's count
    // orders after it.
    if (s_->called.exchange(true, std::memory_order_relaxed)) return false;
    return s_->tx.send(value_type(std::forward<Args>(args)...)).ok();
  }

 private:
  struct Shared {
    explicit Shared(OneshotSender<value_type> t) noexcept : tx(std::move(t)) {}
    std::atomic<bool> called{false};
    OneshotSender<value_type> tx;
  };
  std::shared_ptr<Shared> s_;
};

/// A callback and the future of its one call: std::optional of its
/// arguments (callback_value_t), empty when every copy of the callback was
/// destroyed uncalled. The header comment shows the pattern.
template <class... Args>
std::pair<OnceCallback<Args...>, OneshotReceiver<callback_value_t<Args...>>> callback_future() {
  auto pair = oneshot<callback_value_t<Args...>>();
  return {OnceCallback<Args...>(std::move(pair.first)), std::move(pair.second)};
}

}  // namespace duet

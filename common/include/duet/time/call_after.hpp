// duet/time/call_after.hpp: run a callback once a delay has passed.
//
// Example (fiber):
//   duet::TimerHandle t = duet::call_after(rt, 5s, [] { std::puts("late"); });
//   if (t.cancel()) { /* it will never run */ }
//
// Example (coroutine):
//   duet::TimerHandle idle;  // empty: no timer yet
//   idle = duet::call_after(30s, [] { /* close the idle connection */ });
//   if (idle.cancel()) { /* came first: re-arm for the next request */ }
//
// Without a Runtime, call_after and call_at take the calling worker's.
//
// A delay too large for the clock (nanoseconds::max(), hours::max())
// saturates to Instant::max(), the deadline that never passes: the
// callback never runs, and cancel() returns true (duet/time/clock.hpp,
// deadline_after). call_at(rt, Instant::max(), fn) is the same.
//
// The callback runs once, on one of the runtime's workers, inside the poll
// of a task that sleeps until the deadline (so, like any poll, it must not
// block; spawn from it for longer work). Under a test clock it runs when
// the clock reaches the deadline (docs/time.md).
//
// cancel() returns true when it came first: the callback will never run.
// It returns false when the callback has started or finished (or the handle
// was already cancelled, joined or detached). Dropping the handle, or
// detach(), lets the callback run unobserved.
//
// A callback that throws: the exception is the task's outcome. join()
// rethrows it; on a dropped handle it goes to
// RuntimeConfig::on_detached_exception, as for any detached task.
//
// A drain (Runtime::drain) cancels every callback still waiting, as
// cancel() would: it never runs, join() throws duet::Cancelled, and the
// drain does not wait for its deadline (docs/drain.md).
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "duet/cancel/token.hpp"
#include "duet/detail/current.hpp"
#include "duet/join_handle.hpp"
#include "duet/poll.hpp"
#include "duet/runtime.hpp"
#include "duet/time/sleep.hpp"

namespace duet {

namespace detail {

/// Who got to the callback first: the timer (ran) or cancel() (cancelled).
enum class CallbackState : std::uint8_t { pending, ran, cancelled };

template <class Fn>
class CallAfter {
 public:
  CallAfter(Instant at, Fn fn, std::shared_ptr<std::atomic<CallbackState>> st,
            CancelledFuture drain)
      : sleep_(at), drain_(std::move(drain)), fn_(std::move(fn)), st_(std::move(st)) {}

  Poll<void> poll(Context& cx) {
    if (drain_.poll(cx).is_ready()) return cancel_for_drain();
    if (sleep_.poll(cx).is_pending()) return pending;
    auto expected = CallbackState::pending;
    // Relaxed: the word only decides who wins; no data is handed over
    // through it (the callback's effects reach a joiner through the join).
    if (st_->compare_exchange_strong(expected, CallbackState::ran, std::memory_order_relaxed)) {
      fn_();
    }
    return ready();
  }

 private:
  /// The runtime began a drain: the callback never runs (unless it has),
  /// and the task ends cancelled, as TimerHandle::cancel() ends it.
  Poll<void> cancel_for_drain() {
    auto expected = CallbackState::pending;
    // Relaxed: as in poll. If cancel() came first, it cancels the task too.
    st_->compare_exchange_strong(expected, CallbackState::cancelled, std::memory_order_relaxed);
    cancel_task(current_task());  // the task ends at this poll's pending
    return pending;
  }

  Sleep sleep_;
  CancelledFuture drain_;  // the runtime's shutdown token
  Fn fn_;
  std::shared_ptr<std::atomic<CallbackState>> st_;
};

}  // namespace detail

class TimerHandle {
 public:
  /// An empty handle: no timer. cancel() returns false, valid() is false;
  /// assign a call_at/call_after result to it.
  TimerHandle() noexcept = default;
  TimerHandle(JoinHandle<void> h, std::shared_ptr<std::atomic<detail::CallbackState>> st) noexcept
      : h_(std::move(h)), st_(std::move(st)) {}

  /// True while the handle holds a timer: not empty, joined or detached (a
  /// cancelled one still holds it, and join() throws duet::Cancelled).
  [[nodiscard]] bool valid() const noexcept { return h_.valid(); }

  /// True when the callback will never run (see the header comment).
  bool cancel() noexcept {
    if (!h_.valid()) return false;
    auto expected = detail::CallbackState::pending;
    // Relaxed: as in CallAfter::poll.
    const bool won = st_->compare_exchange_strong(expected, detail::CallbackState::cancelled,
                                                  std::memory_order_relaxed);
    h_.cancel();  // withdraws the timer now rather than at its deadline
    return won;
  }
  /// Waits for the callback (from a fiber or a plain thread; co_await
  /// handle() in a coroutine): returns once it ran, rethrows what it threw,
  /// throws duet::Cancelled when cancel() came first.
  void join() { h_.join(); }
  /// The task's JoinHandle (to co_await, select on, or join).
  JoinHandle<void>& handle() noexcept { return h_; }
  void detach() noexcept { h_.detach(); }
  [[nodiscard]] bool is_finished() const noexcept { return h_.is_finished(); }

 private:
  JoinHandle<void> h_;
  std::shared_ptr<std::atomic<detail::CallbackState>> st_;
};

/// Runs `fn()` on `rt` at `at`.
template <std::invocable<> Fn>
TimerHandle call_at(Runtime& rt, Instant at, Fn fn) {
  auto st = std::make_shared<std::atomic<detail::CallbackState>>(detail::CallbackState::pending);
  JoinHandle<void> h =
      rt.spawn(detail::CallAfter<Fn>(at, std::move(fn), st, rt.shutdown_token().cancelled()));
  return TimerHandle(std::move(h), std::move(st));
}
/// Runs `fn()` on `rt` once `d` has passed.
template <class Rep, class Period, std::invocable<> Fn>
TimerHandle call_after(Runtime& rt, std::chrono::duration<Rep, Period> d, Fn fn) {
  return call_at(rt, deadline_after(d), std::move(fn));
}

namespace detail {
/// The calling worker's runtime, for call_at/call_after without one.
inline Runtime& caller_runtime(const char* what) {
  Runtime* rt = Runtime::current();
  if (rt == nullptr) {
    throw std::logic_error(std::string(what) + ": not on a runtime worker; pass the Runtime");
  }
  return *rt;
}
}  // namespace detail

/// Runs `fn()` at `at` on the runtime of the calling worker (from inside a
/// task). Throws std::logic_error when called outside any runtime.
template <std::invocable<> Fn>
TimerHandle call_at(Instant at, Fn fn) {
  return call_at(detail::caller_runtime("duet::call_at"), at, std::move(fn));
}
/// Runs `fn()` once `d` has passed, on the runtime of the calling worker.
/// Throws std::logic_error when called outside any runtime.
template <class Rep, class Period, std::invocable<> Fn>
TimerHandle call_after(std::chrono::duration<Rep, Period> d, Fn fn) {
  return call_after(detail::caller_runtime("duet::call_after"), d, std::move(fn));
}

}  // namespace duet

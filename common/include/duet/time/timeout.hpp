// duet/time/timeout.hpp: bound any operation by a deadline.
//
// Example (coroutine):
//   auto ch = duet::Channel<int>::bounded(8);
//   duet::Mutex m;
//   auto v = co_await duet::timeout(50ms, ch.recv());  // optional<optional<int>>
//   if (!v) { /* timed out */ } else if (!*v) { /* closed */ } else { use(**v); }
//   if (auto g = co_await duet::timeout(1s, m.lock())) { /* *g: the guard */ }
//   auto w = co_await duet::timeout(1s, work());       // a Task: run here, destroyed
//   if (!w) { /* timed out: work()'s frame is gone, its destructors ran */ }
//   auto h = duet::spawn(work()).cancel_on_drop();     // a task of its own,
//   auto j = co_await duet::timeout(1s, std::move(h)); // cancelled on a timeout
//
// The output is std::optional<T> (T: the operation's output; bool for a
// void operation): empty when the deadline passed first. It does not
// flatten: around an operation whose own output is optional (a channel
// receive: empty means closed) the caller must still tell "timed out" from
// "closed", as Tokio's Result<T, Elapsed> lets it. A deadline already past
// (timeout(0ns, op)) is decided on the first poll, without a timer, after
// the operation had its one chance to be ready. When the timeout
// wins, the operation is destroyed with the Timeout, which withdraws its
// waiter (a lock not taken, a message not consumed), destroys a Task's
// frame where it waits, and cancels a CancelOnDrop's task (a plain
// JoinHandle detaches: its task runs on). The operation is
// polled before the timer, so one that is ready at the deadline wins.
#pragma once

#include <chrono>
#include <optional>
#include <type_traits>
#include <utility>

#include "duet/poll.hpp"
#include "duet/time/sleep.hpp"

namespace duet {

/// F is a value type (the Timeout owns the operation) or an lvalue
/// reference (it borrows one that lives outside).
template <class F>
class [[nodiscard]] Timeout {
  using Fut = std::remove_reference_t<F>;
  using T = future_output_t<Fut>;

 public:
  using Output = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

  Timeout(F&& f, Instant deadline) : fut_(std::forward<F>(f)), sleep_(deadline) {}

  Poll<Output> poll(Context& cx) {
    auto p = fut_.poll(cx);
    if (p.is_ready()) {
      if constexpr (std::is_void_v<T>) {
        return Output(true);
      } else {
        return Output(std::move(p).value());
      }
    }
    if (sleep_.poll(cx).is_ready()) return Output();
    return pending;
  }

 private:
  F fut_;
  Sleep sleep_;
};

template <Future F>
Timeout<F> timeout_at(Instant deadline, F&& f) {
  return Timeout<F>(std::forward<F>(f), deadline);
}
template <class Rep, class Period, class F>
requires Future<std::remove_reference_t<F>> Timeout<F> timeout(std::chrono::duration<Rep, Period> d,
                                                               F&& f) {
  return Timeout<F>(std::forward<F>(f),
                    Clock::now() + std::chrono::duration_cast<Clock::duration>(d));
}

}  // namespace duet

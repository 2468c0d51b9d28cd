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
// The output is flat where the operation's output carries an error code
// (ErrorOutput, duet/poll.hpp: duet::Result<T>, io::Transferred): the same
// type, with std::errc::timed_out when the deadline passed first:
//
// Example (coroutine):
//   auto r = co_await duet::timeout(1s, stream.read(buf));  // duet::Result<std::size_t>
//   if (!r && r.error() == std::errc::timed_out) { /* nothing arrived in time */ }
//   auto t = co_await duet::timeout(1s, stream.write_all(buf));  // io::Transferred
//   if (!t) use(t.bytes, t.error().message());  // t.bytes reached the socket
//
// An operation that can be cut (Cuttable: socket reads and writes, write_all)
// is not simply dropped at the deadline: it is cut, its I/O in flight
// cancelled in the kernel, and the timeout waits for the cut to finish, so
// the output says what happened before it: a write cut at the deadline
// reports the bytes that reached the socket, on either driver (all of them,
// and no error, when the write finished before the cut took effect).
//
// Any other output T becomes std::optional<T> (bool for a void operation):
// empty when the deadline passed first. It does not flatten: around an
// operation whose own output is optional (a channel receive: empty means
// closed) the caller must still tell "timed out" from "closed", as Tokio's
// Result<T, Elapsed> lets it. When the timeout wins, the operation is
// destroyed with the Timeout, which withdraws its waiter (a lock not taken,
// a message not consumed), destroys a Task's frame where it waits, and
// cancels a CancelOnDrop's task (a plain JoinHandle detaches: its task runs
// on).
//
// A duration too large for the clock (nanoseconds::max(), hours::max())
// saturates to Instant::max(), which is no deadline: the operation alone
// decides, and its output comes as from any timeout that did not fire
// (duet/time/clock.hpp, deadline_after).
//
// A deadline already past (timeout(0ns, op)) is decided on the first poll,
// without a timer, after the operation had its one chance to be ready. The
// operation is polled before the timer, so one that is ready at the
// deadline wins.
#pragma once

#include <chrono>
#include <optional>
#include <system_error>
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
  using Output = std::conditional_t<ErrorOutput<T>, T,
                                    std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>>;

  /// Instant::max(): no deadline (the operation alone decides).
  Timeout(F&& f, Instant deadline)
      : fut_(std::forward<F>(f)), sleep_(deadline), bounded_(deadline != Instant::max()) {}

  Poll<Output> poll(Context& cx) {
    if constexpr (Cuttable<Fut>) {
      if (cut_) return fut_.poll_cut(cx, reason());
    }
    auto p = fut_.poll(cx);
    if (p.is_ready()) {
      if constexpr (std::is_void_v<T>) {
        return Output(true);
      } else {
        return Output(std::move(p).value());
      }
    }
    if (!bounded_ || sleep_.poll(cx).is_pending()) return pending;
    if constexpr (Cuttable<Fut>) {
      cut_ = true;
      return fut_.poll_cut(cx, reason());
    } else if constexpr (ErrorOutput<T>) {
      return error_output<T>::make(reason());
    } else if constexpr (std::is_void_v<T>) {
      return Output(false);
    } else {
      return std::nullopt;  // built in the Poll: no empty optional copied (its unset payload)
    }
  }

  /// A Timeout of a Cuttable operation is one too: cut before its
  /// deadline, it cuts the operation with the caller's reason.
  Poll<Output> poll_cut(Context& cx, std::error_code why) requires Cuttable<Fut> {
    cut_ = true;
    return fut_.poll_cut(cx, why_ = why);
  }

 private:
  std::error_code reason() const noexcept {
    return why_ ? why_ : std::make_error_code(std::errc::timed_out);
  }

  F fut_;
  Sleep sleep_;
  bool bounded_;
  bool cut_ = false;     // the deadline passed or a cut came: fut_ is polled through poll_cut
  std::error_code why_;  // a cut's reason (empty: the deadline's)
};

template <Future F>
Timeout<F> timeout_at(Instant deadline, F&& f) {
  return Timeout<F>(std::forward<F>(f), deadline);
}
template <class Rep, class Period, class F>
requires Future<std::remove_reference_t<F>> Timeout<F> timeout(std::chrono::duration<Rep, Period> d,
                                                               F&& f) {
  return Timeout<F>(std::forward<F>(f), deadline_after(d));
}

}  // namespace duet

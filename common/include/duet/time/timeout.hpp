// duet/time/timeout.hpp: bound any operation by a deadline.
//
// `timeout(d, op)` and `timeout_at(deadline, op)` answer one shape, a
// Result-like value whose error says the deadline passed:
// duet::TimeoutErrc::elapsed (`duet::is_elapsed(r.error())`), as Tokio's
// Result<T, Elapsed> does. The error compares equal to std::errc::timed_out
// too, so `r.error() == std::errc::timed_out` still holds for a deadline;
// only is_elapsed tells the deadline from an operation that itself failed
// with ETIMEDOUT.
//
// Example (coroutine):
//   auto ch = duet::Channel<int>::bounded(8);
//   duet::Mutex m;
//   auto v = co_await duet::timeout(50ms, ch.recv());  // Result<optional<int>>
//   if (!v) { /* timed out */ } else if (!*v) { /* closed */ } else { use(**v); }
//   if (auto g = co_await duet::timeout(1s, m.lock())) { /* *g: the guard */ }
//   auto w = co_await duet::timeout(1s, work());       // a Task: run here, destroyed
//   if (!w) { /* timed out: work()'s frame is gone, its destructors ran */ }
//   auto h = duet::spawn(work()).cancel_on_drop();     // a task of its own,
//   auto j = co_await duet::timeout(1s, std::move(h)); // cancelled on a timeout
//   if (!j && duet::is_elapsed(j.error())) { /* the deadline, not the task */ }
//
// The output is the operation's own T in a duet::Result<T> (Result<void>
// for a void operation); where the operation's output already carries an
// error code (ErrorOutput, duet/poll.hpp: duet::Result<T>, io::Transferred)
// it is that type, flat, with TimeoutErrc::elapsed when the deadline passed
// first (a Transferred keeps its bytes):
//
// Example (coroutine):
//   auto r = co_await duet::timeout(1s, stream.read(buf));  // duet::Result<std::size_t>
//   if (!r && duet::is_elapsed(r.error())) { /* nothing arrived in time */ }
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
// Nothing is flattened but an error: around an operation whose own output
// is optional (a channel receive: empty means closed) the caller tells
// "timed out" (an error) from "closed" (an empty value). When the timeout
// wins, the operation is destroyed with the Timeout, which withdraws its
// waiter (a lock not taken, a message not consumed), destroys a Task's
// frame where it waits, and cancels a CancelOnDrop's task (a plain
// JoinHandle detaches: its task runs on).
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
#include <system_error>
#include <type_traits>
#include <utility>

#include "duet/export.hpp"
#include "duet/poll.hpp"
#include "duet/result.hpp"
#include "duet/time/sleep.hpp"

namespace duet {

/// The error of a timeout whose deadline passed first; category
/// "duet.timeout". Equivalent to std::errc::timed_out (the category maps
/// it), so a comparison with std::errc::timed_out holds for it too; an
/// operation's own ETIMEDOUT (std::generic_category) is not elapsed.
enum class TimeoutErrc {
  elapsed = 1,  // the deadline passed before the operation was ready
};

/// The category of TimeoutErrc: one object across shared objects.
DUET_API const std::error_category& timeout_category() noexcept;

inline std::error_code make_error_code(TimeoutErrc e) noexcept {
  return {static_cast<int>(e), timeout_category()};
}

/// True only for a timeout's own deadline (TimeoutErrc::elapsed), never
/// for an operation that itself failed with std::errc::timed_out.
[[nodiscard]] inline bool is_elapsed(std::error_code ec) noexcept {
  return ec.value() == static_cast<int>(TimeoutErrc::elapsed) &&
         ec.category() == timeout_category();
}

}  // namespace duet

// A specialization of the standard library's, not duet's API: hidden from the reference.
/// @cond
template <>
struct std::is_error_code_enum<duet::TimeoutErrc> : std::true_type {};
/// @endcond

namespace duet {

/// F is a value type (the Timeout owns the operation) or an lvalue
/// reference (it borrows one that lives outside).
template <class F>
class [[nodiscard]] Timeout {
  using Fut = std::remove_reference_t<F>;
  using T = future_output_t<Fut>;

 public:
  /// T itself where it carries an error (ErrorOutput), else Result<T>
  /// (Result<void> for a void operation).
  using Output = std::conditional_t<ErrorOutput<T>, T, Result<T>>;

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
        return Output();
      } else {
        return std::move(p).value();  // built in the Poll: as many moves as an optional took
      }
    }
    if (!bounded_ || sleep_.poll(cx).is_pending()) return pending;
    if constexpr (Cuttable<Fut>) {
      cut_ = true;
      return fut_.poll_cut(cx, reason());
    } else if constexpr (ErrorOutput<T>) {
      return error_output<T>::make(reason());
    } else {
      return Output(reason());
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
    return why_ ? why_ : make_error_code(TimeoutErrc::elapsed);
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

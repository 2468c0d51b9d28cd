// duet/poll.hpp: the poll-future protocol.
//
// A poll future is any type with a member `Poll<T> poll(duet::Context& cx)`
// that either returns a ready value or returns `pending` after arranging for
// `cx.waker()` (or a clone of it) to be woken when polling again can make
// progress. This is the protocol of the source documents (Rust's Future,
// blitz-io's poll): every waiting operation in duet is written once in this
// shape, and gets three faces for free:
//
// Example (file):
//   struct Answer {                     // the smallest poll future: ready at once
//     duet::Poll<int> poll(duet::Context&) { return 42; }
//   };
//   duet::Task<int> three_faces() {
//     int a = co_await Answer{};        // in a stackless Task<T>
//     int b = duet::wait(Answer{});     // in a fiber (parks the fiber) or a plain thread
//     auto h = rt.spawn(Answer{});      // a task of its own, with no frame allocation
//     co_return a + b + h.join();
//   }
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace duet {

class Context;

/// The unit type: what a `Poll<void>` carries.
struct Unit {
  friend constexpr bool operator==(Unit, Unit) noexcept { return true; }
};

/// Tag convertible to any `Poll<T>`: "not ready yet".
struct Pending {};
inline constexpr Pending pending{};

namespace detail {

/// A value that Poll keeps beside a word-wide flag rather than in a
/// std::optional: trivially copyable, at most a word.
template <class T>
inline constexpr bool poll_in_words =
    std::is_trivially_copyable_v<T>&& std::is_trivially_destructible_v<T> &&
    sizeof(T) <= sizeof(void*) && alignof(T) <= alignof(void*);

/// Poll's storage: a std::optional in general.
template <class T, bool Words = poll_in_words<T>>
class PollSlot {
 public:
  constexpr PollSlot() noexcept = default;
  template <class U>
  constexpr explicit PollSlot(std::in_place_t, U&& v) : v_(std::in_place, std::forward<U>(v)) {}
  [[nodiscard]] constexpr bool has_value() const noexcept { return v_.has_value(); }
  constexpr T& get() noexcept { return *v_; }

 private:
  std::optional<T> v_;
};

/// A word-sized value and a word-wide flag: two registers when a Poll is
/// returned from a call that is not inlined (a fiber's poll_once, a
/// coroutine's repoll). A std::optional<long> is built in memory, a byte
/// store of its flag then a load of the whole word, which misses store-to-
/// load forwarding and stalls the load (docs/performance-log.md, "Stalls
/// that instruction counts do not show").
template <class T>
class PollSlot<T, true> {
 public:
  constexpr PollSlot() noexcept {}  // NOLINT: the value stays unset while pending
  template <class U>
  constexpr explicit PollSlot(std::in_place_t, U&& v) : v_(std::forward<U>(v)), ready_(1) {}
  [[nodiscard]] constexpr bool has_value() const noexcept { return ready_ != 0; }
  constexpr T& get() noexcept { return v_; }

 private:
  union {
    T v_;
  };
  std::uintptr_t ready_ = 0;
};

}  // namespace detail

/// The result of one `poll`: a value, or pending.
template <class T>
class Poll {
 public:
  using value_type = T;
  constexpr Poll(Pending) noexcept {}  // NOLINT: implicit by design
  template <class U>
  requires std::constructible_from<T, U&&>
  constexpr Poll(U&& v) : v_(std::in_place, std::forward<U>(v)) {}  // NOLINT

  [[nodiscard]] constexpr bool is_ready() const noexcept { return v_.has_value(); }
  [[nodiscard]] constexpr bool is_pending() const noexcept { return !v_.has_value(); }
  constexpr T& value() & { return v_.get(); }
  constexpr T&& value() && { return std::move(v_.get()); }

 private:
  detail::PollSlot<T> v_;
};

template <>
class Poll<void> {
 public:
  using value_type = void;
  constexpr Poll(Pending) noexcept {}              // NOLINT
  constexpr Poll(Unit) noexcept : ready_(true) {}  // NOLINT
  [[nodiscard]] constexpr bool is_ready() const noexcept { return ready_; }
  [[nodiscard]] constexpr bool is_pending() const noexcept { return !ready_; }
  constexpr void value() const noexcept {}

 private:
  bool ready_ = false;
};

/// `ready()` for a `Poll<void>`.
inline constexpr Poll<void> ready() noexcept {
  return Unit{};
}

namespace detail {
template <class P>
struct is_poll : std::false_type {};
template <class T>
struct is_poll<Poll<T>> : std::true_type {};
}  // namespace detail

/// A poll future: `f.poll(cx)` returns a `Poll<T>`.
template <class F>
concept Future = requires(F& f, Context& cx) {
  {f.poll(cx)};
}
&&detail::is_poll<decltype(std::declval<F&>().poll(std::declval<Context&>()))>::value;

/// The `T` of a future's `Poll<T>`.
template <Future F>
using future_output_t =
    typename decltype(std::declval<F&>().poll(std::declval<Context&>()))::value_type;

/// An output that carries a std::error_code (duet::Result<T>,
/// io::Transferred): a type opts in by specializing error_output with
/// `static T make(std::error_code)`. A combinator that ends an operation
/// early (duet::timeout) then reports the reason in the output itself,
/// flat, instead of wrapping the output in an optional.
template <class T>
struct error_output {};

template <class T>
concept ErrorOutput = requires(std::error_code ec) {
  { error_output<T>::make(ec) } -> std::same_as<T>;
};

/// A future that can be cut short and still say what it did. After
/// `f.poll_cut(cx, why)` the future is polled only through poll_cut, which
/// stops the operation as soon as it can (an I/O operation in flight is
/// cancelled in the kernel) and is ready with the output of what happened
/// before the cut: a write reports the bytes that reached the socket, with
/// `why` as its error unless it finished first. The first poll_cut starts
/// the cut; it may be ready at once.
template <class F>
concept Cuttable = Future<F> && ErrorOutput<future_output_t<F>> &&
    requires(F& f, Context& cx, std::error_code why) {
  { f.poll_cut(cx, why) } -> std::same_as<Poll<future_output_t<F>>>;
};

template <class T>
class Task;  // duet/stackless/task.hpp: a coroutine, and a future too

namespace detail {
/// Is T a Task<U>? (A Task is a future, but spawns as a coroutine.)
template <class T>
inline constexpr bool is_task_v = false;
template <class T>
inline constexpr bool is_task_v<Task<T>> = true;

/// A future whose output may be large offers its poll in two steps as
/// well: `bool poll_ready(Context&)` (pending: false, with the waker
/// registered as poll() would; ready: true, the output kept in the future)
/// then `T take_ready()` (the output, moved out once). `poll(cx)` must be
/// `poll_ready(cx) ? Poll<T>(take_ready()) : pending`. The coroutine face
/// uses the two steps, so the output is built once, in the awaiting
/// expression, instead of through a Poll<T> and the awaiter's Outcome<T>
/// (TaskScope's next(): docs/performance-log.md, "A scope's next() in two
/// steps").
template <class F>
concept TwoStepFuture = Future<F> && requires(F& f, Context& cx) {
  { f.poll_ready(cx) } -> std::same_as<bool>;
  { f.take_ready() } -> std::same_as<future_output_t<F>>;
};
}  // namespace detail

}  // namespace duet

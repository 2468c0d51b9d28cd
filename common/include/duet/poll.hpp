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
#include <optional>
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
  constexpr T& value() & { return *v_; }
  constexpr T&& value() && { return std::move(*v_); }

 private:
  std::optional<T> v_;
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

}  // namespace duet

// duet/result.hpp: what every operation that can fail returns (I/O, TLS,
// DNS, HTTP, processes, signals): a value or an std::error_code (never an
// exception, never a signal), with the interface
// of C++23's std::expected<T, std::error_code>: has_value(), value(),
// operator*, error(), value_or, and_then, transform, or_else,
// transform_error.
//
// Example (coroutine):
//   auto r = co_await stream.read(buf);          // Result<std::size_t>
//   if (!r) use(r.error().message());            // ECONNRESET, ECANCELED...
//   else if (*r == 0) { /* the peer closed */ }
//
// Example (file):
//   duet::Result<int> parse_port(const std::string& text);
//   int port_or_default(const std::string& text) { return parse_port(text).value_or(8080); }
//   duet::Result<int> next_port(const std::string& text) {
//     return parse_port(text).and_then([](int p) -> duet::Result<int> {
//       if (p == 65535) return std::errc::result_out_of_range;
//       return p + 1;
//     });
//   }
//
// Errors are std::errc values in std::generic_category() (errno numbers):
// compare with `r.error() == std::errc::connection_reset`.
#pragma once

#include <cerrno>
#include <functional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "duet/poll.hpp"

namespace duet {

template <class T>
class Result;

namespace detail {

template <class>
inline constexpr bool is_result_v = false;
template <class T>
inline constexpr bool is_result_v<Result<T>> = true;

/// The members of the std::expected interface that Result<T> and
/// Result<void> share, written once over `self` in any value category: f
/// takes the value (nothing for Result<void>) or the error.
struct ResultOps {
  /// f(value), a Result of any type; or this error in that type.
  template <class Self, class F>
  static auto and_then(Self&& self, F&& f) {
    using R = std::remove_cvref_t<decltype(call_with_value(std::declval<Self>(), f))>;
    static_assert(is_result_v<R>, "duet::Result::and_then: the function must return a Result");
    if (!self.has_value()) return R(self.error());
    return R(call_with_value(std::forward<Self>(self), f));
  }
  /// Result of f(value) (Result<void> when f returns nothing); or this error.
  template <class Self, class F>
  static auto transform(Self&& self, F&& f) {
    using U = std::remove_cvref_t<decltype(call_with_value(std::declval<Self>(), f))>;
    if (!self.has_value()) return Result<U>(self.error());
    if constexpr (std::is_void_v<U>) {
      call_with_value(std::forward<Self>(self), f);
      return Result<U>();  // U is void
    } else {
      return Result<U>(call_with_value(std::forward<Self>(self), f));
    }
  }
  /// This value; or f(error), a Result of the same type.
  template <class Self, class F>
  static std::remove_cvref_t<Self> or_else(Self&& self, F&& f) {
    using R = std::remove_cvref_t<std::invoke_result_t<F&, std::error_code>>;
    static_assert(std::is_same_v<R, std::remove_cvref_t<Self>>,
                  "duet::Result::or_else: the function must return the same Result type");
    if (self.has_value()) return std::forward<Self>(self);
    return std::invoke(f, self.error());
  }
  /// This value; or the error f(error) makes of this one.
  template <class Self, class F>
  static std::remove_cvref_t<Self> transform_error(Self&& self, F&& f) {
    static_assert(std::is_convertible_v<std::invoke_result_t<F&, std::error_code>, std::error_code>,
                  "duet::Result::transform_error: the function must return an error code");
    if (self.has_value()) return std::forward<Self>(self);
    return std::remove_cvref_t<Self>(std::error_code(std::invoke(f, self.error())));
  }

 private:
  template <class Self, class F>
  static decltype(auto) call_with_value(Self&& self, F& f) {
    if constexpr (std::is_void_v<typename std::remove_cvref_t<Self>::value_type>) {
      return std::invoke(f);
    } else {
      return std::invoke(f, *std::forward<Self>(self));
    }
  }
};

}  // namespace detail

/// A value of type T, or an error code. `Result<void>` carries no value.
template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}     // NOLINT: implicit by design
  Result(std::error_code e) : v_(std::in_place_index<1>, e) {}  // NOLINT
  Result(std::errc e) : Result(std::make_error_code(e)) {}      // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  /// The value; throws std::system_error when this holds an error.
  T& value() & {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  /// The error (a default error_code, i.e. success, when this holds a value).
  [[nodiscard]] std::error_code error() const noexcept {
    return v_.index() == 1 ? std::get<1>(v_) : std::error_code{};
  }
  /// The value, or `other` when this holds an error.
  template <class U>
  [[nodiscard]] T value_or(U&& other) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(other));
  }
  template <class U>
  [[nodiscard]] T value_or(U&& other) && {
    return has_value() ? std::get<0>(std::move(v_)) : static_cast<T>(std::forward<U>(other));
  }
  /// f(value), which returns a Result (of any type); or this error.
  template <class F>
  auto and_then(F&& f) & {
    return detail::ResultOps::and_then(*this, f);
  }
  template <class F>
  auto and_then(F&& f) const& {
    return detail::ResultOps::and_then(*this, f);
  }
  template <class F>
  auto and_then(F&& f) && {
    return detail::ResultOps::and_then(std::move(*this), f);
  }
  /// f(value) as a Result (Result<void> when f returns nothing); or this error.
  template <class F>
  auto transform(F&& f) & {
    return detail::ResultOps::transform(*this, f);
  }
  template <class F>
  auto transform(F&& f) const& {
    return detail::ResultOps::transform(*this, f);
  }
  template <class F>
  auto transform(F&& f) && {
    return detail::ResultOps::transform(std::move(*this), f);
  }
  /// This value; or f(error), which returns a Result<T>.
  template <class F>
  Result or_else(F&& f) const& {
    return detail::ResultOps::or_else(*this, f);
  }
  template <class F>
  Result or_else(F&& f) && {
    return detail::ResultOps::or_else(std::move(*this), f);
  }
  /// This value; or the error f(error) returns.
  template <class F>
  Result transform_error(F&& f) const& {
    return detail::ResultOps::transform_error(*this, f);
  }
  template <class F>
  Result transform_error(F&& f) && {
    return detail::ResultOps::transform_error(std::move(*this), f);
  }
  /// Equal: both values and equal, or both errors and equal.
  friend bool operator==(const Result& a, const Result& b) { return a.v_ == b.v_; }

 private:
  void check() const {
    if (v_.index() != 0) throw std::system_error(std::get<1>(v_));
  }
  std::variant<T, std::error_code> v_;
};

template <>
class Result<void> {
 public:
  using value_type = void;
  Result() noexcept = default;
  Result(std::error_code e) noexcept : e_(e) {}                  // NOLINT
  Result(std::errc e) noexcept : e_(std::make_error_code(e)) {}  // NOLINT
  [[nodiscard]] bool has_value() const noexcept { return !e_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (e_) throw std::system_error(e_);
  }
  void operator*() const noexcept {}
  [[nodiscard]] std::error_code error() const noexcept { return e_; }
  /// f(), which returns a Result (of any type); or this error.
  template <class F>
  auto and_then(F&& f) const {
    return detail::ResultOps::and_then(*this, f);
  }
  /// f() as a Result (Result<void> when f returns nothing); or this error.
  template <class F>
  auto transform(F&& f) const {
    return detail::ResultOps::transform(*this, f);
  }
  /// Success; or f(error), which returns a Result<void>.
  template <class F>
  Result or_else(F&& f) const {
    return detail::ResultOps::or_else(*this, f);
  }
  /// Success; or the error f(error) returns.
  template <class F>
  Result transform_error(F&& f) const {
    return detail::ResultOps::transform_error(*this, f);
  }
  friend bool operator==(const Result& a, const Result& b) noexcept { return a.e_ == b.e_; }

 private:
  std::error_code e_;
};

}  // namespace duet

/// A Result carries an error: duet::timeout around an I/O operation gives
/// the operation's own Result, with std::errc::timed_out (duet/poll.hpp).
template <class T>
struct duet::error_output<duet::Result<T>> {
  static duet::Result<T> make(std::error_code e) { return duet::Result<T>(e); }
};

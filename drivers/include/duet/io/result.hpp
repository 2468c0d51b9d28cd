// duet/io/result.hpp: what every I/O operation returns: a value or an
// std::error_code (never an exception, never a signal).
//
// Example (coroutine):
//   auto r = co_await stream.read(buf);          // Result<std::size_t>
//   if (!r) use(r.error().message());            // ECONNRESET, ECANCELED...
//   else if (*r == 0) { /* the peer closed */ }
//
// Errors are std::errc values in std::generic_category() (errno numbers):
// compare with `r.error() == std::errc::connection_reset`.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace duet::io {

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
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  /// The error (a default error_code, i.e. success, when this holds a value).
  [[nodiscard]] std::error_code error() const noexcept {
    return v_.index() == 1 ? std::get<1>(v_) : std::error_code{};
  }

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
  [[nodiscard]] std::error_code error() const noexcept { return e_; }

 private:
  std::error_code e_;
};

/// The error code of an errno value (a negative io_uring result negated).
inline std::error_code errno_code(int e) noexcept {
  return {e, std::generic_category()};
}

}  // namespace duet::io

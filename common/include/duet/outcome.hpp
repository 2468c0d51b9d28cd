// duet/outcome.hpp: how a task's result travels to its joiner.
#pragma once

#include <exception>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "duet/poll.hpp"

namespace duet {

/// Thrown by a join when the task was cancelled (through its handle, or by
/// runtime shutdown) before it finished.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("duet: task was cancelled") {}
};

/// A task's result: empty, a value, or an exception.
template <class T>
class Outcome {
  using Stored = std::conditional_t<std::is_void_v<T>, Unit, T>;

 public:
  template <class... A>
  void set_value(A&&... a) {
    v_.template emplace<1>(std::forward<A>(a)...);
  }
  void set_exception(std::exception_ptr e) noexcept { v_.template emplace<2>(std::move(e)); }
  void set_cancelled() noexcept {
    v_.template emplace<0>();
    cancelled_ = true;
  }
  [[nodiscard]] bool has_value() const noexcept { return v_.index() != 0 || cancelled_; }
  [[nodiscard]] bool is_cancelled() const noexcept { return cancelled_; }
  /// The stored exception, if the task threw one (not for cancellation).
  [[nodiscard]] std::exception_ptr exception() const noexcept {
    return v_.index() == 2 ? std::get<2>(v_) : nullptr;
  }

  /// Moves the value out, or rethrows the stored exception (Cancelled for a
  /// cancelled task).
  /// Leaves the outcome empty (so a later drop reports nothing).
  T take() {
    if (cancelled_) throw Cancelled{};
    if (v_.index() == 2) {
      auto e = std::move(std::get<2>(v_));
      v_.template emplace<0>();
      std::rethrow_exception(std::move(e));
    }
    if constexpr (std::is_void_v<T>) {
      v_.template emplace<0>();
      return;
    } else {
      T v = std::move(std::get<1>(v_));
      v_.template emplace<0>();
      return v;
    }
  }
  void reset() noexcept { v_.template emplace<0>(); }

 private:
  std::variant<std::monostate, Stored, std::exception_ptr> v_;
  bool cancelled_ = false;
};

}  // namespace duet

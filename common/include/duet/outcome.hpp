// duet/outcome.hpp: how a task's result travels to its joiner.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "duet/poll.hpp"

namespace duet {

/// Thrown by a join when the task was cancelled (through its handle, or by
/// runtime shutdown) before it finished.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("duet: task was cancelled") {}
};

namespace detail {

/// The outcome capture, written once, for every outcome type (Outcome<T>,
/// VoidResult): Derived provides set_value and set_exception.
template <class Derived, class T>
class Captures {
 public:
  /// Polls `f` once: pending stores nothing and returns false; ready stores
  /// the value, or the exception the poll threw, and returns true. (Poll
  /// tasks, coroutine awaiters, combinators.)
  template <class F>
  bool capture_poll(F& f, Context& cx) {
    try {
      auto p = f.poll(cx);
      if (p.is_pending()) return false;
      if constexpr (std::is_void_v<T>) {
        self().set_value();
      } else {
        self().set_value(std::move(p).value());
      }
    } catch (...) {
      self().set_exception(std::current_exception());
    }
    return true;
  }
  /// Calls `fn` and stores what it returns or throws. An exception of type
  /// Pass (a fiber's unwinding) is not captured: it propagates.
  template <class Pass = void, class Fn>
  void capture_call(Fn& fn) {
    if constexpr (std::is_void_v<Pass>) {
      try {
        call_and_store(fn);
      } catch (...) {
        self().set_exception(std::current_exception());
      }
    } else {
      try {
        call_and_store(fn);
      } catch (const Pass&) {
        throw;
      } catch (...) {
        self().set_exception(std::current_exception());
      }
    }
  }

 private:
  Derived& self() noexcept { return static_cast<Derived&>(*this); }
  template <class Fn>
  void call_and_store(Fn& fn) {
    if constexpr (std::is_void_v<T>) {
      std::invoke(fn);
      self().set_value();
    } else {
      self().set_value(std::invoke(fn));
    }
  }
};

}  // namespace detail

/// A task's result: empty, a value, an exception, or "cancelled". A tagged
/// union rather than std::variant: it sits on the spawn/join hot path, where
/// the variant's generic visitation cost instructions.
template <class T>
class Outcome : public detail::Captures<Outcome<T>, T> {
  using Stored = std::conditional_t<std::is_void_v<T>, Unit, T>;
  enum class Tag : unsigned char { empty, value, exception, cancelled };

 public:
  Outcome() noexcept {}
  Outcome(Outcome&& o) noexcept(std::is_nothrow_move_constructible_v<Stored>) { take_from(o); }
  Outcome& operator=(Outcome&& o) noexcept(std::is_nothrow_move_constructible_v<Stored>) {
    if (this != &o) {
      reset();
      take_from(o);
    }
    return *this;
  }
  ~Outcome() { reset(); }

  template <class... A>
  void set_value(A&&... a) {
    reset();
    std::construct_at(&value_, std::forward<A>(a)...);
    tag_ = Tag::value;
  }
  void set_exception(std::exception_ptr e) noexcept {
    reset();
    std::construct_at(&error_, std::move(e));
    tag_ = Tag::exception;
  }
  void set_cancelled() noexcept {
    reset();
    tag_ = Tag::cancelled;
  }

  [[nodiscard]] bool has_value() const noexcept { return tag_ != Tag::empty; }
  [[nodiscard]] bool is_cancelled() const noexcept { return tag_ == Tag::cancelled; }
  /// The stored exception, if the task threw one (not for cancellation).
  [[nodiscard]] std::exception_ptr exception() const noexcept {
    return tag_ == Tag::exception ? error_ : nullptr;
  }
  /// Holds an exception? (No copy of it: exception() copies, a call.)
  [[nodiscard]] bool has_exception() const noexcept { return tag_ == Tag::exception; }
  /// The stored value, left in place; null when there is none (empty, an
  /// exception, cancelled). (duet::Unit for T = void.)
  [[nodiscard]] const Stored* peek() const noexcept {
    return tag_ == Tag::value ? &value_ : nullptr;
  }

  /// Moves the value out, or rethrows the stored exception (Cancelled for a
  /// cancelled task). Leaves the outcome empty (cancelled stays cancelled),
  /// so a later drop reports nothing.
  T take() {
    switch (tag_) {
      case Tag::value:
        if constexpr (std::is_void_v<T>) {
          reset();
          return;
        } else {
          T v = std::move(value_);
          reset();
          return v;
        }
      case Tag::exception: {
        auto e = std::move(error_);
        reset();
        std::rethrow_exception(std::move(e));
      }
      case Tag::cancelled:
        throw Cancelled{};
      case Tag::empty:
        break;
    }
    throw std::logic_error("duet: outcome taken before the task finished");
  }
  /// Drops a value or exception (cancelled stays cancelled). Inline, with
  /// the exception's release out of line: it runs on every set, move and
  /// drop (docs/performance-log.md, "Hot-path trims of spawn+join").
  void reset() noexcept {
    if (tag_ == Tag::exception) [[unlikely]] {
      drop_error();
    } else if (tag_ == Tag::value) {
      if constexpr (!std::is_trivially_destructible_v<Stored>) std::destroy_at(&value_);
      tag_ = Tag::empty;
    }
  }

 private:
  [[gnu::noinline, gnu::cold]] void drop_error() noexcept {
    std::destroy_at(&error_);
    tag_ = Tag::empty;
  }
  void take_from(Outcome& o) {
    if (o.tag_ == Tag::value) {
      std::construct_at(&value_, std::move(o.value_));
    } else if (o.tag_ == Tag::exception) {
      std::construct_at(&error_, std::move(o.error_));
    }
    tag_ = o.tag_;
    o.reset();
  }

  union {
    Stored value_;
    std::exception_ptr error_;
  };
  Tag tag_ = Tag::empty;
};

namespace detail {

/// The result of a void computation that is read once, after it ended, and
/// cannot be cancelled (an await, a coroutine body): only an exception,
/// null when it returned. 8 bytes where Outcome<void> takes 16, in every
/// coroutine frame (the promise's result, and each await's).
class VoidResult : public Captures<VoidResult, void> {
 public:
  void set_value() noexcept { error_ = nullptr; }
  void set_exception(std::exception_ptr e) noexcept { error_ = std::move(e); }
  [[nodiscard]] std::exception_ptr exception() const noexcept { return error_; }
  /// Takes the stored exception out (null when it returned).
  [[nodiscard]] std::exception_ptr take_exception() noexcept {
    return std::exchange(error_, nullptr);
  }
  /// Returns, or rethrows the stored exception. (The throw is out of line,
  /// so that the check inlines into every await: docs/performance-log.md,
  /// "Hot-path trims of spawn+join".)
  void take() {
    if (error_) [[unlikely]]
      rethrow();
  }

 private:
  [[noreturn, gnu::noinline, gnu::cold]] void rethrow() {
    std::rethrow_exception(std::exchange(error_, nullptr));
  }
  std::exception_ptr error_;
};

/// What an await or a coroutine body keeps: VoidResult for void.
template <class T>
using ResultOf = std::conditional_t<std::is_void_v<T>, VoidResult, Outcome<T>>;

}  // namespace detail

}  // namespace duet

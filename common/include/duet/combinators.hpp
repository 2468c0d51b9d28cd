// duet/combinators.hpp: waiting on several futures at once, as poll
// futures themselves (so they work for coroutines, fibers, poll tasks and
// blocking jobs alike, and in both waiting faces).
//
// Example (coroutine):
//   auto both = co_await duet::join(work(), work_name());     // Tasks, JoinHandles,
//   use(std::get<0>(both), std::get<1>(both));                // any futures: a tuple
//   auto tried = co_await duet::try_join(work(), work_name()); // the first failure ends it
//   auto h = duet::spawn(work());
//   auto g = duet::spawn(work_name());
//   auto handles = co_await duet::join_all(h, g);             // handles of different types
//
// Example (fiber):
//   auto [n, s] = duet::wait(duet::join(work(), work_name()));
//
// join(fs...): polls every future until all are ready; the outputs in
// argument order, as a std::tuple (duet::Unit for a void one). If some
// threw (a JoinHandle's task threw or was cancelled), it still waits for
// all, then rethrows the first exception in argument order (as join_all).
// try_join(fs...): the same, but the first exception (in the order found)
// ends it at once: it rethrows it, and the others are dropped with the
// try_join, which cancels what they are (a Task's frame is destroyed, a
// CancelOnDrop cancels its task; a plain JoinHandle detaches, a borrowed
// lvalue is left to its owner).
// Error values (Tokio's try_join! on Err): when every future gives an
// duet::Result (any value types), a duet::Result holding an error is a
// failure too. Then try_join gives one duet::Result: of the std::tuple of the
// values (duet::Unit for a duet::Result<void>) when all succeed, or the
// first error found, which ends it at once as an exception does. The rule
// covers every type R<T> of one template R for which duet::error_output
// is specialised (duet/poll.hpp): duet::Result is duet's. A try_join that
// mixes such futures with others does not compile (which failure would it
// give?); join() takes any mix, an error value being a value to it.
// An argument passed as an rvalue is moved in and owned; an lvalue (a
// JoinHandle you keep) is borrowed and polled in place. The futures run
// in their poller: a Task polled by join runs inside the task that awaits
// the join, one at a time (to run them in parallel, spawn them and join
// the handles).
//
// Over a std::vector of JoinHandle<T> of one T (tens to thousands of tasks):
// join_all: results in the order of the handles. It waits for every task;
// if some threw (or were cancelled), the first such exception, in handle
// order, is rethrown after all have finished.
// try_join_all: as join_all, but the first failure (an exception, a
// cancellation, or, for a T that is a duet::Result, an error value) ends it
// at once: every other task is cancelled (JoinHandle::cancel) and
// detached, and the failure is the result (rethrown; an error value is
// returned, as the duet::Result of the vector of values).
// race: the first task to finish wins; its result (or exception) is the
// race's; every other task is cancelled (JoinHandle::cancel) and detached.
// select_first: the first to finish; its handle is emptied in the caller's
// vector, the others are left untouched and keep running. Its empty
// handles (those an earlier select_first took) are passed over.
// An empty handle given to join_all, try_join_all or race (joined already, or never
// given a task) is a program error, as joining it alone is: the call
// throws std::logic_error naming its index, before waiting on anything
// (the vector's other handles are dropped with it: their tasks detach).
// select_first throws std::logic_error when no handle is left to take,
// and std::invalid_argument (a logic_error too) on an empty vector, as
// race does; neither waits for ever.
// For several futures of which the first ready one wins, use duet::select
// (duet/channel/select.hpp).
//
// Example (file):
//   std::vector<duet::JoinHandle<int>> spawn_four() {
//     std::vector<duet::JoinHandle<int>> hs;
//     for (int i = 0; i < 4; ++i) hs.push_back(duet::spawn(duet::stackful, [i] { return i; }));
//     return hs;
//   }
//   duet::Task<void> over_vectors() {
//     std::vector<int> all = co_await duet::join_all(spawn_four());  // in handle order
//     std::vector<int> tried = co_await duet::try_join_all(spawn_four());  // first failure ends it
//     use(tried);
//     auto won = co_await duet::race(spawn_four());  // {index, value}; losers cancelled
//     use(all, won.first, won.second);
//     auto handles = spawn_four();
//     auto first = co_await duet::select_first(handles);  // others keep running
//     use(first.first, first.second);
//   }
//
// In a coroutine, take a pair or tuple that co_await gives as a whole
// (`won.first`, std::get<0>(t)), not with a structured binding, and keep
// local types (a lambda, an enum) out of a coroutine in a header: GCC 12's
// coroutine traps (docs/writing-a-server.md). A fiber's duet::wait has no
// such trap.
//
// Each poll re-polls the futures not finished yet: O(n) per wake-up.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "duet/join_handle.hpp"
#include "duet/outcome.hpp"
#include "duet/poll.hpp"

namespace duet {

namespace detail {
[[noreturn]] inline void throw_empty_handle_at(const char* what, std::size_t i) {
  throw std::logic_error(std::string(what) + ": the handle at index " + std::to_string(i) +
                         " is empty (joined already, or never given a task)");
}
/// Is T an error-valued result, R<A> of a template R whose R<U> carry an
/// error (duet::error_output, duet/poll.hpp): duet::Result<A>. Then
/// `rebind<U>` is R<U> and `value_t` the A (duet::Unit for void).
template <class T>
struct result_family : std::false_type {};
template <template <class> class R, class A>
requires ErrorOutput<R<A>>
struct result_family<R<A>> : std::true_type {
  template <class U>
  using rebind = R<U>;
  using value_t = std::conditional_t<std::is_void_v<A>, Unit, A>;
};
template <class T>
inline constexpr bool is_error_valued_v = result_family<T>::value;

/// The value of the error-valued result `r` that holds one (Unit for void).
template <class R>
typename result_family<R>::value_t value_of(R&& r) {
  if constexpr (std::is_same_v<typename result_family<R>::value_t, Unit>) {
    r.value();
    return Unit{};
  } else {
    return std::move(r).value();
  }
}

/// Did this outcome fail for a try_join: an exception, a cancellation, or
/// an error-valued result that holds an error?
template <class T>
bool try_failed(const Outcome<T>& o) noexcept {
  if (o.has_exception() || o.is_cancelled()) return true;
  if constexpr (is_error_valued_v<T>) {
    const auto* v = o.peek();
    return v != nullptr && static_cast<bool>(v->error());
  } else {
    return false;
  }
}

/// An empty handle in a vector to join is a program error (see the top of
/// this file); skipped, it made the join wait for ever.
template <class T>
void require_every_handle(const std::vector<JoinHandle<T>>& hs, const char* what) {
  for (std::size_t i = 0; i < hs.size(); ++i) {
    if (!hs[i].valid()) throw_empty_handle_at(what, i);
  }
}
}  // namespace detail

template <class T>
class [[nodiscard]] JoinAll {
 public:
  using Output = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
  /// Throws std::logic_error for an empty handle (see the top of this file).
  explicit JoinAll(std::vector<JoinHandle<T>> hs) : hs_(std::move(hs)), outs_(hs_.size()) {
    detail::require_every_handle(hs_, "duet::join_all");
  }

  Poll<Output> poll(Context& cx) {
    for (std::size_t i = 0; i < hs_.size(); ++i) {
      if (!hs_[i].valid()) continue;  // finished: its outcome is in outs_[i]
      if (!outs_[i].capture_poll(hs_[i], cx)) continue;
      ++done_;
    }
    if (done_ < hs_.size()) return pending;
    if constexpr (std::is_void_v<T>) {
      for (auto& o : outs_) o.take();  // rethrows the first failure
      return ready();
    } else {
      std::vector<T> v;
      v.reserve(outs_.size());
      for (auto& o : outs_) v.push_back(o.take());
      return v;
    }
  }

 private:
  std::vector<JoinHandle<T>> hs_;
  std::vector<Outcome<T>> outs_;
  std::size_t done_ = 0;
};

template <class T>
class [[nodiscard]] TryJoinAll {
  static constexpr bool error_values = detail::is_error_valued_v<T>;
  template <class U>
  struct Values {
    using type = std::conditional_t<std::is_void_v<U>, void, std::vector<U>>;
  };
  template <class U>
  struct ResultOfValues {
    using R = detail::result_family<U>;
    using value_t = typename R::value_t;
    using type = typename R::template rebind<
        std::conditional_t<std::is_same_v<value_t, Unit>, void, std::vector<value_t>>>;
  };

 public:
  using Output = typename std::conditional_t<error_values, ResultOfValues<T>, Values<T>>::type;
  /// Throws std::logic_error for an empty handle (see the top of this file).
  explicit TryJoinAll(std::vector<JoinHandle<T>> hs) : hs_(std::move(hs)), outs_(hs_.size()) {
    detail::require_every_handle(hs_, "duet::try_join_all");
  }

  Poll<Output> poll(Context& cx) {
    for (std::size_t i = 0; i < hs_.size(); ++i) {
      if (!hs_[i].valid()) continue;  // finished: its outcome is in outs_[i]
      if (!outs_[i].capture_poll(hs_[i], cx)) continue;
      ++done_;
      if (detail::try_failed(outs_[i])) return fail(outs_[i]);
    }
    if (done_ < hs_.size()) return pending;
    if constexpr (error_values) {
      if constexpr (std::is_same_v<typename ResultOfValues<T>::value_t, Unit>) {
        return Output();
      } else {
        std::vector<typename ResultOfValues<T>::value_t> v;
        v.reserve(outs_.size());
        for (auto& o : outs_) v.push_back(detail::value_of(o.take()));
        return Output(std::move(v));
      }
    } else if constexpr (std::is_void_v<T>) {
      for (auto& o : outs_) o.take();
      return ready();
    } else {
      std::vector<T> v;
      v.reserve(outs_.size());
      for (auto& o : outs_) v.push_back(o.take());
      return v;
    }
  }

 private:
  /// The first failure: the others cancelled and detached; it is rethrown
  /// (an exception, Cancelled) or returned (an error value).
  Poll<Output> fail(Outcome<T>& out) {
    for (auto& h : hs_) {
      h.cancel();
      h.detach();
    }
    if constexpr (error_values) {
      if (out.peek() != nullptr) return error_output<Output>::make(out.peek()->error());
      static_cast<void>(out.take());  // throws: an exception or Cancelled
      return pending;                 // (unreached)
    } else {
      static_cast<void>(out.take());  // throws
      return pending;                 // (unreached)
    }
  }

  std::vector<JoinHandle<T>> hs_;
  std::vector<Outcome<T>> outs_;
  std::size_t done_ = 0;
};

/// The first finished task: its index and result.
template <class T>
using FirstResult = std::conditional_t<std::is_void_v<T>, std::size_t, std::pair<std::size_t, T>>;

namespace detail {
/// Polls `hs` in order; the index of the first finished one (its outcome
/// in `out`), or npos.
template <class T>
std::size_t poll_first(std::vector<JoinHandle<T>>& hs, Context& cx, Outcome<T>& out) {
  for (std::size_t i = 0; i < hs.size(); ++i) {
    if (!hs[i].valid()) continue;
    if (out.capture_poll(hs[i], cx)) return i;
  }
  return static_cast<std::size_t>(-1);
}
template <class T>
FirstResult<T> first_result(std::size_t i, Outcome<T>& out) {
  if constexpr (std::is_void_v<T>) {
    out.take();
    return i;
  } else {
    return FirstResult<T>(i, out.take());
  }
}
}  // namespace detail

template <class T>
class [[nodiscard]] Race {
 public:
  /// Throws std::invalid_argument on no handles, std::logic_error for an
  /// empty one (see the top of this file).
  explicit Race(std::vector<JoinHandle<T>> hs) : hs_(std::move(hs)) {
    if (hs_.empty()) throw std::invalid_argument("duet::race: no handles");
    detail::require_every_handle(hs_, "duet::race");
  }
  Poll<FirstResult<T>> poll(Context& cx) {
    Outcome<T> out;
    std::size_t i = detail::poll_first(hs_, cx, out);
    if (i == static_cast<std::size_t>(-1)) return pending;
    for (auto& h : hs_) {
      h.cancel();
      h.detach();
    }
    return detail::first_result(i, out);
  }

 private:
  std::vector<JoinHandle<T>> hs_;
};

template <class T>
class [[nodiscard]] SelectFirst {
 public:
  /// Throws std::invalid_argument on no handles, std::logic_error when
  /// every handle is empty (see the top of this file).
  explicit SelectFirst(std::vector<JoinHandle<T>>& hs) : hs_(&hs) {
    if (hs.empty()) throw std::invalid_argument("duet::select_first: no handles");
    for (const auto& h : hs) {
      if (h.valid()) return;
    }
    throw std::logic_error(
        "duet::select_first: no handle left to take (every handle is empty: taken by an "
        "earlier select_first, joined, or never given a task)");
  }
  Poll<FirstResult<T>> poll(Context& cx) {
    Outcome<T> out;
    std::size_t i = detail::poll_first(*hs_, cx, out);
    if (i == static_cast<std::size_t>(-1)) return pending;
    return detail::first_result(i, out);
  }

 private:
  std::vector<JoinHandle<T>>* hs_;
};

template <class T>
JoinAll<T> join_all(std::vector<JoinHandle<T>> hs) {
  return JoinAll<T>(std::move(hs));
}
/// join_all whose first failure cancels the rest and ends it (see the top
/// of this file).
template <class T>
TryJoinAll<T> try_join_all(std::vector<JoinHandle<T>> hs) {
  return TryJoinAll<T>(std::move(hs));
}
template <class T>
Race<T> race(std::vector<JoinHandle<T>> hs) {
  return Race<T>(std::move(hs));
}
template <class T>
SelectFirst<T> select_first(std::vector<JoinHandle<T>>& hs) {
  return SelectFirst<T>(hs);
}

namespace detail {

/// One future of a join: F is a future type (moved in) or an lvalue
/// reference to one (borrowed). Polled until it is ready; its value or
/// exception is kept until the join ends.
template <class F>
class JoinBranch {
  using Fut = std::remove_reference_t<F>;
  using Out = future_output_t<Fut>;

 public:
  using value_type = std::conditional_t<std::is_void_v<Out>, Unit, Out>;

  template <class G>
  explicit JoinBranch(G&& g) : f_(std::forward<G>(g)) {}
  JoinBranch(JoinBranch&&) = default;

  using output_type = Out;
  /// True once ready (a value or an exception kept).
  bool poll(Context& cx) { return out_.has_value() || out_.capture_poll(f_, cx); }
  [[nodiscard]] bool failed() const noexcept { return out_.has_exception(); }
  /// failed(), or an error value (an error-valued result holding an error).
  [[nodiscard]] bool failed_or_error() const noexcept { return try_failed(out_); }
  /// The error of an error-valued result that holds one.
  [[nodiscard]] auto error() const noexcept { return out_.peek()->error(); }
  /// The value, or the exception rethrown.
  value_type take() {
    if constexpr (std::is_void_v<Out>) {
      out_.take();
      return Unit{};
    } else {
      return out_.take();
    }
  }

 private:
  F f_;
  Outcome<Out> out_;
};

/// How a join stores an argument of type A (as deduced: an lvalue is A&).
template <class A>
using join_branch_t =
    JoinBranch<std::conditional_t<std::is_lvalue_reference_v<A>, A, std::remove_cvref_t<A>>>;

/// Do the branches' outputs follow the error-value rule of try_join (see
/// the top of this file): all error-valued results of one template, or
/// none?
template <class... Outs>
struct error_values {
  static constexpr std::size_t results = (std::size_t{is_error_valued_v<Outs>} + ...);
  static_assert(results == 0 || results == sizeof...(Outs),
                "duet::try_join: either every future gives a duet::Result (an error value ends "
                "it) or none does; make the others give one too, or use duet::join");
  static constexpr bool value = results == sizeof...(Outs);
};

/// try_join's output: the tuple, or under the error-value rule, the result
/// of the tuple of values.
template <bool ErrorValues, class... Fs>
struct try_join_output {
  using type = std::tuple<typename Fs::value_type...>;
};
template <class F0, class... Fs>
struct try_join_output<true, F0, Fs...> {
  using type = typename result_family<typename F0::output_type>::template rebind<
      std::tuple<typename result_family<typename F0::output_type>::value_t,
                 typename result_family<typename Fs::output_type>::value_t...>>;
};

/// join and try_join over JoinBranches: ShortCircuit ends at the first
/// exception (and, under the error-value rule, at the first error value).
template <bool ShortCircuit, class... Fs>
class [[nodiscard]] JoinN {
  static_assert(sizeof...(Fs) > 0, "join needs at least one future");
  // join() never instantiates the rule (it takes any mix).
  static constexpr bool ErrorValues =
      std::conditional_t<ShortCircuit, error_values<typename Fs::output_type...>,
                         std::false_type>::value;

 public:
  using Output = typename try_join_output<ErrorValues, Fs...>::type;

  template <class... As>
  explicit JoinN(As&&... as) : branches_(std::forward<As>(as)...) {}

  Poll<Output> poll(Context& cx) {
    bool all = true;  // every branch is polled, in argument order
    std::apply([&](auto&... b) { ((all &= poll_one(b, cx)), ...); }, branches_);
    if constexpr (ShortCircuit) {
      if (!all && failed_) return first_failure();
    }
    if (!all) return pending;
    if constexpr (ErrorValues) {
      // Every branch is ready: the first error value in argument order, or
      // the values.
      if (failed_) return first_failure();
      return std::apply(
          [](auto&... b) { return Output(typename Output::value_type{value_of(b.take())...}); },
          branches_);
    } else {
      // Braced: taken in argument order, so the first failure is rethrown.
      return std::apply([](auto&... b) { return Output{b.take()...}; }, branches_);
    }
  }

 private:
  template <class B>
  bool poll_one(B& b, Context& cx) {
    if constexpr (ShortCircuit) {
      if (failed_) return false;  // one failed: the others need no more polls
    }
    const bool done = b.poll(cx);
    if constexpr (ErrorValues) {
      failed_ = failed_ || (done && b.failed_or_error());
    } else if constexpr (ShortCircuit) {
      failed_ = failed_ || b.failed();
    }
    return done;
  }
  /// The first failed branch in argument order: its exception rethrown,
  /// or its error value returned.
  Output first_failure() {
    if constexpr (ErrorValues) {
      std::optional<Output> r;
      auto first = [&r](auto& b) {
        if (r || !b.failed_or_error()) return;
        if (b.failed()) static_cast<void>(b.take());  // throws
        r.emplace(error_output<Output>::make(b.error()));
      };
      std::apply([&](auto&... b) { (first(b), ...); }, branches_);
      return std::move(*r);
    } else {
      std::apply([](auto&... b) { ((b.failed() ? (static_cast<void>(b.take()), 0) : 0), ...); },
                 branches_);
      throw std::logic_error("duet::try_join: no failure to rethrow");  // (unreached)
    }
  }

  std::tuple<Fs...> branches_;
  bool failed_ = false;
};

template <class... As>
using join_t = JoinN<false, join_branch_t<As>...>;
template <class... As>
using try_join_t = JoinN<true, join_branch_t<As>...>;

}  // namespace detail

/// Waits for every future; their outputs in argument order (see the top of
/// this file).
template <class... As>
requires(sizeof...(As) > 0 &&
         (Future<std::remove_cvref_t<As>> && ...)) detail::join_t<As...> join(As&&... as) {
  return detail::join_t<As...>(std::forward<As>(as)...);
}

/// As join, but the first exception ends it at once (see the top of this
/// file).
template <class... As>
requires(sizeof...(As) > 0 &&
         (Future<std::remove_cvref_t<As>> && ...)) detail::try_join_t<As...> try_join(As&&... as) {
  return detail::try_join_t<As...>(std::forward<As>(as)...);
}

/// join over handles (or any futures) of different types: `join_all(a, b)`.
template <class... As>
requires(sizeof...(As) > 0 &&
         (Future<std::remove_cvref_t<As>> && ...)) detail::join_t<As...> join_all(As&&... as) {
  return detail::join_t<As...>(std::forward<As>(as)...);
}

}  // namespace duet

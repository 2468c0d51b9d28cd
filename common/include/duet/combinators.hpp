// duet/combinators.hpp: waiting on several tasks at once, as poll futures
// over JoinHandles (so they work for coroutines, fibers, poll tasks and
// blocking jobs alike, and in both waiting faces).
//
// Example (coroutine):
//   auto spawn_four = [] {
//     std::vector<duet::JoinHandle<int>> hs;
//     for (int i = 0; i < 4; ++i) hs.push_back(duet::spawn(duet::stackful, [i] { return i; }));
//     return hs;
//   };
//   std::vector<int> all = co_await duet::join_all(spawn_four());  // in handle order
//   auto [i, v] = co_await duet::race(spawn_four());               // losers cancelled
//   auto handles = spawn_four();
//   auto [j, w] = co_await duet::select_first(handles);            // others keep running
//
// join_all: results in the order of the handles. It waits for every task;
// if some threw (or were cancelled), the first such exception, in handle
// order, is rethrown after all have finished.
// race: the first task to finish wins; its result (or exception) is the
// race's; every other task is cancelled (JoinHandle::cancel) and detached.
// select_first: the first to finish; its handle is emptied in the caller's
// vector, the others are left untouched and keep running.
//
// Each poll re-polls the handles not finished yet: O(n) per wake-up, fine
// for the tens to thousands of handles these are meant for.
//
// What they take, for now: a std::vector of JoinHandle<T> of one T (tasks of
// any backend, poll tasks and blocking jobs). Handles of different output
// types, or other futures (a channel receive, a sleep), are not accepted:
// spawn them as tasks first, or use duet::select (duet/channel/select.hpp)
// for channel operations and timers.
#pragma once

#include <cstddef>
#include <exception>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "duet/join_handle.hpp"
#include "duet/outcome.hpp"
#include "duet/poll.hpp"

namespace duet {

template <class T>
class [[nodiscard]] JoinAll {
 public:
  using Output = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
  explicit JoinAll(std::vector<JoinHandle<T>> hs) : hs_(std::move(hs)), outs_(hs_.size()) {}

  Poll<Output> poll(Context& cx) {
    for (std::size_t i = 0; i < hs_.size(); ++i) {
      if (!hs_[i].valid()) continue;
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
  explicit Race(std::vector<JoinHandle<T>> hs) : hs_(std::move(hs)) {
    if (hs_.empty()) throw std::invalid_argument("duet::race: no handles");
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
  explicit SelectFirst(std::vector<JoinHandle<T>>& hs) : hs_(&hs) {
    if (hs.empty()) throw std::invalid_argument("duet::select_first: no handles");
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
template <class T>
Race<T> race(std::vector<JoinHandle<T>> hs) {
  return Race<T>(std::move(hs));
}
template <class T>
SelectFirst<T> select_first(std::vector<JoinHandle<T>>& hs) {
  return SelectFirst<T>(hs);
}

}  // namespace duet

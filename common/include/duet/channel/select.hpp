// duet/channel/select.hpp: wait on several channel operations at once.
//
// Example (coroutine):
//   auto a = duet::Channel<int>::bounded(0);
//   auto b = duet::Channel<std::string>::bounded(0);
//   auto r = co_await duet::select(a.recv(), b.send("hi"), duet::sleep(100ms));
//   switch (r.index()) {
//     case 0: use(std::get<0>(r)); break;         // std::optional<int>: empty if a closed
//     case 1: use(std::get<1>(r).ok()); break;    // SendResult<std::string>
//     case 2: break;                              // timed out (duet::Unit)
//   }
//   auto d = duet::try_select(a.recv(), b.recv());  // with a default case:
//   if (!d) { /* nothing was ready */ }
//
// Exactly one case completes. When several are ready, the one taken is
// chosen uniformly at random (claim R9, Go's rule), not in source order:
// cases are tried in a fresh random permutation on every select.
//
// How (the crossbeam/Go shape, on duet's intrusive waiters):
//   1. try pass: each case, in random order, tries its operation without
//      waiting; the first that succeeds wins.
//   2. register pass: each case links its waiter node (inside this future)
//      into its channel, tagged with a pointer to this select's claim word.
//      If a case finds its operation possible while registering, the select
//      aborts (claims itself with `aborted`), unlinks everything and goes
//      back to 1.
//   3. A peer (a sender, a receiver, close) that wants to complete one of
//      our nodes must first win the claim word (0 -> case id); only the
//      winner completes, every other node of ours is unlinked by whoever
//      finds it. A timer case claims the word itself when it fires.
// Nil channels are never ready (Go's idiom for disabling a case).
//
// What it takes, for now: Channel<T>::send / Channel<T>::recv futures and
// duet::sleep / sleep_until (a timeout case). Other futures (a mutex lock, a
// join handle, a socket read) are not select cases: wrap such an operation
// in a task that reports through a channel, or use duet::timeout for one
// operation with a deadline and duet::race for join handles.
#pragma once

#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "duet/channel/channel.hpp"
#include "duet/detail/random.hpp"
#include "duet/poll.hpp"
#include "duet/time/sleep.hpp"
#include "duet/waker.hpp"

namespace duet {

/// The select case protocol (steps 1-3 above), as each case provides it:
/// Channel<T>::recv and send futures, and SleepCase for a timer.
///   sel_try()        1: complete now without waiting (true: it did)
///   sel_register(waker, claim, id)
///                    2: link this case's node, tagged with the select's
///                       claim word and the case id; true (and not linked)
///                       when the operation could complete now: abort
///   sel_unregister() unlink the node if it is still linked
///   sel_completed()  after the claim: did a peer complete this node?
///   sel_take()       the case's result (its variant alternative)
///   sel_self_completing
///                    true for a case that completes by claiming the word
///                    itself when it fires (a timer); such a case also says
///                    sel_ready_now() (it has fired)
template <class C>
concept SelectCase = requires(C& c, const C& cc, const Waker& w, std::atomic<std::uint32_t>* claim,
                              std::uint32_t id) {
  { c.sel_try() } -> std::same_as<bool>;
  { c.sel_register(w, claim, id) } -> std::same_as<bool>;
  { c.sel_unregister() }
  noexcept;
  { cc.sel_completed() } -> std::same_as<bool>;
  { C::sel_self_completing } -> std::convertible_to<bool>;
  c.sel_take();
}
&&(!C::sel_self_completing || requires(const C& cc) {
  { cc.sel_ready_now() } -> std::same_as<bool>;
});

namespace detail {

inline constexpr std::uint32_t aborted = UINT32_MAX;

/// A timer as a select case (a Sleep gets wrapped in one).
class SleepCase {
 public:
  explicit SleepCase(Sleep&& s) noexcept : s_(std::move(s)) {}
  bool sel_try() { return s_.is_elapsed() || Clock::now() >= s_.deadline(); }
  bool sel_register(const Waker& wk, std::atomic<std::uint32_t>*, std::uint32_t) {
    Context cx(wk);
    return s_.poll(cx).is_ready();
  }
  void sel_unregister() noexcept {}  // the timer goes with the select
  [[nodiscard]] bool sel_completed() const noexcept { return true; }
  static constexpr bool sel_self_completing = true;
  [[nodiscard]] bool sel_ready_now() const noexcept { return s_.is_elapsed(); }
  Unit sel_take() noexcept { return {}; }

 private:
  Sleep s_;
};

template <class C>
struct case_of {
  using type = std::remove_cvref_t<C>;
};
template <>
struct case_of<Sleep> {
  using type = SleepCase;
};
template <class C>
using case_t = typename case_of<std::remove_cvref_t<C>>::type;

}  // namespace detail

template <SelectCase... Cs>
class [[nodiscard]] Select {
  static constexpr std::size_t N = sizeof...(Cs);
  static_assert(N > 0 && N < 256, "select needs 1..255 cases");
  using Seq = std::make_index_sequence<N>;

 public:
  using Output = std::variant<decltype(std::declval<Cs&>().sel_take())...>;

  template <class... As>
  explicit Select(As&&... as) : cases_(std::forward<As>(as)...) {}
  Select(Select&& o) : cases_(std::move(o.cases_)) {
    if (o.registered_) detail::moved_while_linked();
  }
  Select& operator=(Select&&) = delete;
  ~Select() {
    if (registered_) unregister_all(Seq{});
  }

  Poll<Output> poll(Context& cx) {
    for (;;) {
      if (registered_) {
        // Acquire: pairs with the winner's claim; its node's status is
        // read (acquire) separately below.
        std::uint32_t c = claim_.load(std::memory_order_acquire);
        if (c == 0) c = poll_self_completing(Seq{});
        if (c == 0) {
          if (!waker_.will_wake(cx.waker())) {
            // Polled by another waker (a different task): register again.
            abort_and_unregister();
            continue;
          }
          return pending;
        }
        if (c == detail::aborted) {  // not reached: abort resets it
          unregister_all(Seq{});
          registered_ = false;
          continue;
        }
        const std::size_t win = c - 1;
        if (!completed(win, Seq{})) return pending;  // its completer is about to wake us
        unregister_all(Seq{});
        registered_ = false;
        return take(win, Seq{});
      }
      std::array<std::uint8_t, N> order = permutation();
      for (std::uint8_t i : order) {
        if (try_case(i, Seq{})) return take(i, Seq{});
      }
      claim_.store(0, std::memory_order_relaxed);  // nobody can see it yet
      waker_ = cx.waker();
      registered_ = true;
      bool ready = false;
      for (std::uint8_t i : order) {
        if (register_case(i, cx.waker(), Seq{})) {
          ready = true;
          break;
        }
      }
      if (ready) {
        // Something became possible while registering: withdraw and retry,
        // unless a peer already completed one of our cases.
        std::uint32_t e = 0;
        // AcqRel: as WaitNode::try_claim.
        if (claim_.compare_exchange_strong(e, detail::aborted, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
          unregister_all(Seq{});
          registered_ = false;
        }
        continue;
      }
      return pending;
    }
  }

  /// The default case: one try pass (random order), no waiting.
  std::optional<Output> try_now() {
    std::array<std::uint8_t, N> order = permutation();
    for (std::uint8_t i : order) {
      if (try_case(i, Seq{})) return take(i, Seq{});
    }
    return std::nullopt;
  }

 private:
  static std::array<std::uint8_t, N> permutation() noexcept {
    std::array<std::uint8_t, N> p;
    for (std::size_t i = 0; i < N; ++i) p[i] = static_cast<std::uint8_t>(i);
    for (std::size_t i = N; i > 1; --i) {
      std::uint32_t j = detail::random_below(static_cast<std::uint32_t>(i));
      std::swap(p[i - 1], p[j]);
    }
    return p;
  }
  void abort_and_unregister() {
    std::uint32_t e = 0;
    // AcqRel: as WaitNode::try_claim.
    if (claim_.compare_exchange_strong(e, detail::aborted, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
      unregister_all(Seq{});
      registered_ = false;
    }
  }
  template <std::size_t... I>
  bool try_case(std::size_t i, std::index_sequence<I...>) {
    bool r = false;
    ((i == I ? (r = std::get<I>(cases_).sel_try(), 0) : 0), ...);
    return r;
  }
  template <std::size_t... I>
  bool register_case(std::size_t i, const Waker& w, std::index_sequence<I...>) {
    bool r = false;
    ((i == I
          ? (r = std::get<I>(cases_).sel_register(w, &claim_, static_cast<std::uint32_t>(I + 1)), 0)
          : 0),
     ...);
    return r;
  }
  template <std::size_t... I>
  void unregister_all(std::index_sequence<I...>) noexcept {
    (std::get<I>(cases_).sel_unregister(), ...);
  }
  template <std::size_t... I>
  bool completed(std::size_t i, std::index_sequence<I...>) const {
    bool r = false;
    ((i == I ? (r = std::get<I>(cases_).sel_completed(), 0) : 0), ...);
    return r;
  }
  template <std::size_t... I>
  std::uint32_t poll_self_completing(std::index_sequence<I...>) {
    std::uint32_t won = 0;
    auto one = [&](auto& c, std::uint32_t id) {
      if constexpr (std::remove_reference_t<decltype(c)>::sel_self_completing) {
        if (won == 0 && c.sel_ready_now()) {
          std::uint32_t e = 0;
          // AcqRel: as WaitNode::try_claim.
          if (claim_.compare_exchange_strong(e, id, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
            won = id;
          } else {
            won = e;  // a peer won first
          }
        }
      }
    };
    (one(std::get<I>(cases_), static_cast<std::uint32_t>(I + 1)), ...);
    return won;
  }
  template <std::size_t... I>
  Output take(std::size_t i, std::index_sequence<I...>) {
    std::optional<Output> out;
    ((i == I ? (out.emplace(std::in_place_index<I>, std::get<I>(cases_).sel_take()), 0) : 0), ...);
    return std::move(*out);
  }

  std::tuple<Cs...> cases_;
  std::atomic<std::uint32_t> claim_{0};
  bool registered_ = false;
  Waker waker_;
};

/// Waits until one of the cases completes (see the top of this file).
/// Cases: Channel<T>::recv(), Channel<T>::send(v), duet::sleep(d) /
/// sleep_until(t) (a timeout case).
template <class... Cs>
Select<detail::case_t<Cs>...> select(Cs&&... cs) {
  static_assert((SelectCase<detail::case_t<Cs>> && ...),
                "duet::select takes Channel<T>::recv() and send(v) futures and duet::sleep / "
                "sleep_until; wrap another operation in a task that reports through a channel");
  return Select<detail::case_t<Cs>...>(std::forward<Cs>(cs)...);
}

/// Select with a default case: completes one ready case (chosen uniformly
/// at random among the ready ones), or returns an empty optional at once.
template <class... Cs>
auto try_select(Cs&&... cs) {
  Select<detail::case_t<Cs>...> s(std::forward<Cs>(cs)...);
  return s.try_now();
}

}  // namespace duet

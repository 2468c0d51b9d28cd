// duet/channel/select.hpp: wait on several operations at once: channel
// operations, timers, and any other poll future.
//
// Example (coroutine):
//   auto a = duet::Channel<int>::bounded(0);
//   auto b = duet::Channel<std::string>::bounded(0);
//   auto r = co_await duet::select(a.recv(), b.send("hi"), duet::sleep(100ms));
//   r.visit([](std::optional<int> v) { use(v); },         // one handler per case,
//           [](duet::SendResult<std::string> s) { use(s.ok()); },  // in the order
//           [](duet::Unit) { /* timed out */ });          // written
//   auto d = duet::try_select(a.recv(), b.recv());  // with a default case:
//   if (!d) { /* nothing was ready */ }
//
// Example (file):
//   enum InputCase { stop, line, idle };  // a select's cases, in the order written
//   duet::Task<void> read_input(duet::Channel<int>& input, duet::CancellationToken token) {
//     auto m = co_await duet::select(duet::biased, token.cancelled(), input.recv(),
//                                    duet::sleep(30s));  // a priority order, named cases
//     if (m.is<stop>()) co_return;           // a cancelled token wins over input
//     if (m.is<line>()) use(m.get<line>());  // std::optional<int>
//   }
//
// Name the cases with an enum at namespace scope, as above, not inside the
// coroutine: GCC 12 warns (-Wsubobject-linkage) about a local enum in a
// coroutine of a file another includes (docs/writing-a-server.md, "GCC 12
// coroutine traps").
//
// Example (coroutine):
//   auto a = duet::Channel<int>::bounded(1);      // mixed cases
//   duet::CancellationToken token;
//   duet::Notify notify;
//   auto h = duet::spawn(duet::stackful, [] { return std::string("done"); });
//   auto m = co_await duet::select(a.recv(), h, notify.notified(), token.cancelled(), work());
//   if (m.is<1>()) use(m.get<1>());               // the task's std::string
//
// Exactly one case completes. When several are ready, the one taken is
// chosen uniformly at random (Go's rule), not in source order:
// cases are tried in a fresh random permutation on every select. A biased
// select (`select(duet::biased, cases...)`, Tokio's `biased;`) tries them in
// the order written instead, so the first ready case written wins: put a
// cancellation first to make it win over pending input. The order governs
// each try pass (the first poll, and every wake with poll-future cases);
// while it waits, a channel case that a peer completes wins as it comes.
//
// The result (SelectResult) is the std::variant of the cases' outputs,
// with r.is<I>(), r.get<I>() and r.visit(handlers...) (one handler per
// case, called positionally, so two cases of one type keep their own);
// index(), std::get and std::visit work on it as before.
//
// Cases are of three kinds, mixed freely in one call (one name, so that
// adding a socket read or a join handle to a select of channels changes no
// other line):
//   - channel operations (Channel<T>::recv() / send(v)): completed by a peer
//     through the claim word below, so a message is never taken and lost.
//   - duet::sleep / sleep_until passed by value: a timeout case.
//   - any other poll future (duet/poll.hpp): a socket operation, a
//     JoinHandle (of any result type), Notify::notified(), a token's
//     cancelled(), a semaphore acquire, a Task (run in the selecting
//     task), a user's future. Its output is its
//     Poll<T>'s T (duet::Unit for void). An rvalue is moved into the select
//     and destroyed with it; an lvalue (a JoinHandle you keep) is borrowed
//     and polled in place, so a handle that lost is still yours to join.
//     A future that lost is dropped pending, which is its cancellation: a
//     socket read withdraws its request (its buffer is not written after),
//     a Notified passes a notify_one on, a JoinHandle detaches (or, when
//     borrowed, stays joinable; a CancelOnDrop cancels its task), a Task's
//     frame is destroyed where it waits, a token's waiter unlinks.
//     An exception from a case's poll ends the select with that exception.
//
// How (the crossbeam/Go shape, on duet's intrusive waiters):
//   1. try pass: each case, in random order, tries its operation without
//      waiting (a poll future is polled with the task's waker); the first
//      that succeeds wins.
//   2. register pass: each channel case links its waiter node (inside this
//      future) into its channel, tagged with a pointer to this select's
//      claim word. If a case finds its operation possible while registering,
//      the select aborts (claims itself with `aborted`), unlinks everything
//      and goes back to 1.
//   3. A peer (a sender, a receiver, close) that wants to complete one of
//      our nodes must first win the claim word (0 -> case id); only the
//      winner completes, every other node of ours is unlinked by whoever
//      finds it. A timer case claims the word itself when it fires.
//   With poll-future cases, a wake with the word still 0 aborts the
//   registration (claims `aborted`, unlinks) and goes back to 1: poll
//   futures are polled only while no channel node is linked, so a peer can
//   never complete a channel case while a poll future holds a result the
//   select would then drop (no message, bytes or join result is lost). The
//   cost: each wake re-runs passes 1 and 2 (Go's select does the same).
// Nil channels are never ready (Go's idiom for disabling a case).
#pragma once

#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
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

/// Any poll future as a select case: polled in the try pass with the task's
/// waker (that is its registration). F is a future type (moved in) or an
/// lvalue reference to one (borrowed).
template <class F>
class FutureCase {
  using Fut = std::remove_reference_t<F>;
  using Out = future_output_t<Fut>;

 public:
  using value_type = std::conditional_t<std::is_void_v<Out>, Unit, Out>;
  static constexpr bool sel_generic = true;

  template <class G>
  explicit FutureCase(G&& g) : f_(std::forward<G>(g)) {}
  FutureCase(FutureCase&&) = default;

  /// True (the output kept) when the future is ready.
  bool sel_poll(Context& cx) {
    auto p = f_.poll(cx);
    if (p.is_ready()) {
      if constexpr (std::is_void_v<Out>) {
        out_.emplace();
      } else {
        out_.emplace(std::move(p).value());
      }
      return true;
    }
    return false;
  }
  value_type sel_take() { return std::move(*out_); }

 private:
  F f_;
  std::optional<value_type> out_;
};

template <class C>
concept GenericCase = requires(C& c, Context& cx) {
  { c.sel_poll(cx) } -> std::same_as<bool>;
  c.sel_take();
  requires C::sel_generic;
};

template <class C>
inline constexpr bool is_generic_case = GenericCase<C>;

/// The waker a default case (try_select) polls poll futures with: nobody
/// waits, so a wake does nothing.
inline const Waker& noop_waker() noexcept {
  static constexpr WakerVTable vt{[](void*) {}, [](void*) {}, [](void*) {}, [](void*) {}};
  static const Waker w = Waker::adopt(nullptr, &vt);
  return w;
}

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

/// What select stores for an argument of type C (as deduced: an lvalue is
/// C&): a channel case as is, a Sleep by value as a SleepCase, any other
/// poll future as a FutureCase (moved in, or borrowed when an lvalue).
template <class C, class D = std::remove_cvref_t<C>>
struct case_of {
  using type = FutureCase<std::conditional_t<std::is_lvalue_reference_v<C>, D&, D>>;
};
template <class C, class D>
requires SelectCase<D>
struct case_of<C, D> {
  using type = D;
};
template <class C, class D>
requires(std::same_as<D, Sleep> && !std::is_lvalue_reference_v<C>) struct case_of<C, D> {
  using type = SleepCase;
};
template <class C>
using case_t = typename case_of<C>::type;

template <class C>
inline constexpr bool valid_case = SelectCase<std::remove_cvref_t<C>> ||
                                   (std::same_as<std::remove_cvref_t<C>, Sleep> &&
                                    !std::is_lvalue_reference_v<C>) ||
                                   Future<std::remove_cvref_t<C>>;

}  // namespace detail

template <class C>
concept AnySelectCase = SelectCase<C> || detail::GenericCase<C>;

/// The tag that makes a select biased: `select(duet::biased, cases...)`
/// tries its cases in the order written (Tokio's `biased;`).
struct Biased {
  explicit Biased() = default;
};
inline constexpr Biased biased{};

/// What a select answers: the std::variant of its cases' outputs (index I:
/// case I completed), with names for the questions asked of it:
///   r.is<I>()       did case I complete? (I may be an enumerator: name
///                   your cases with an enum in the order written)
///   r.get<I>()      its output (std::bad_variant_access for another case)
///   r.visit(h0, h1, ...)  calls the handler of the case that completed
///                   (one per case, in the order written) with its output
///                   and returns what it returns
/// std::get, std::visit, index() and holds_alternative work as on the
/// variant it is.
template <class... Ts>
class SelectResult : public std::variant<Ts...> {
 public:
  using variant_type = std::variant<Ts...>;
  using variant_type::variant;

  template <auto I>
  [[nodiscard]] bool is() const noexcept {
    return this->index() == static_cast<std::size_t>(I);
  }
  template <auto I>
  decltype(auto) get() & {
    return std::get<static_cast<std::size_t>(I)>(as_variant());
  }
  template <auto I>
  decltype(auto) get() && {
    return std::get<static_cast<std::size_t>(I)>(std::move(as_variant()));
  }
  template <class... Hs>
  decltype(auto) visit(Hs&&... hs) & {
    return visit_in(as_variant(), std::forward<Hs>(hs)...);
  }
  template <class... Hs>
  decltype(auto) visit(Hs&&... hs) && {
    return visit_in(std::move(as_variant()), std::forward<Hs>(hs)...);
  }
  variant_type& as_variant() & noexcept { return *this; }
  const variant_type& as_variant() const& noexcept { return *this; }

 private:
  template <class V, class... Hs>
  static decltype(auto) visit_in(V&& v, Hs&&... hs) {
    static_assert(sizeof...(Hs) == sizeof...(Ts), "SelectResult::visit: one handler per case");
    auto handlers = std::forward_as_tuple(std::forward<Hs>(hs)...);
    return call_at(std::forward<V>(v), handlers, std::make_index_sequence<sizeof...(Ts)>{});
  }
  /// The handler at the completed case's index, called with its output
  /// (positional: two cases of one type keep their own handlers).
  template <class V, class H, std::size_t... I>
  static decltype(auto) call_at(V&& v, H& handlers, std::index_sequence<I...>) {
    using R = std::common_type_t<decltype(std::invoke(std::get<I>(handlers),
                                                      std::get<I>(std::forward<V>(v))))...>;
    using Fn = R (*)(V&&, H&);
    static constexpr Fn table[] = {+[](V&& w, H& h) -> R {
      return std::invoke(std::get<I>(h), std::get<I>(std::forward<V>(w)));
    }...};
    if (v.valueless_by_exception()) throw std::bad_variant_access{};
    return table[v.index()](std::forward<V>(v), handlers);
  }
};

template <AnySelectCase... Cs>
class [[nodiscard]] Select {
  static constexpr std::size_t N = sizeof...(Cs);
  static constexpr bool has_generic = (detail::is_generic_case<Cs> || ...);
  static_assert(N > 0 && N < 256, "select needs 1..255 cases");
  using Seq = std::make_index_sequence<N>;

 public:
  using Output = SelectResult<decltype(std::declval<Cs&>().sel_take())...>;

  template <class... As>
  explicit Select(As&&... as) : cases_(std::forward<As>(as)...) {}
  /// A biased select: cases tried in the order written.
  template <class... As>
  explicit Select(Biased, As&&... as) : cases_(std::forward<As>(as)...), biased_(true) {}
  Select(Select&& o) : cases_(std::move(o.cases_)), biased_(o.biased_) {
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
        if (c == 0 && has_generic) {
          // A poll future may have woken us: withdraw, then poll again
          // (see the top of this file). A peer that claimed first wins.
          abort_and_unregister();
          if (!registered_) continue;
          // Acquire: as above (the peer's claim).
          c = claim_.load(std::memory_order_acquire);
        }
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
        if (try_case(i, cx, Seq{})) return take(i, Seq{});
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
    Context cx(detail::noop_waker());
    for (std::uint8_t i : order) {
      if (try_case(i, cx, Seq{})) return take(i, Seq{});
    }
    return std::nullopt;
  }

 private:
  /// The order of a pass: as written when biased, else a fresh random one.
  std::array<std::uint8_t, N> permutation() const noexcept {
    std::array<std::uint8_t, N> p;
    for (std::size_t i = 0; i < N; ++i) p[i] = static_cast<std::uint8_t>(i);
    if (biased_) return p;
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
  template <class C>
  static bool try_one(C& c, Context& cx) {
    if constexpr (detail::is_generic_case<C>) {
      return c.sel_poll(cx);
    } else {
      return c.sel_try();
    }
  }
  template <std::size_t... I>
  bool try_case(std::size_t i, Context& cx, std::index_sequence<I...>) {
    bool r = false;
    ((i == I ? (r = try_one(std::get<I>(cases_), cx), 0) : 0), ...);
    return r;
  }
  template <class C>
  bool register_one(C& c, const Waker& w, std::uint32_t id) {
    if constexpr (detail::is_generic_case<C>) {
      return false;  // registered by its poll in the try pass
    } else {
      return c.sel_register(w, &claim_, id);
    }
  }
  template <std::size_t... I>
  bool register_case(std::size_t i, const Waker& w, std::index_sequence<I...>) {
    bool r = false;
    ((i == I ? (r = register_one(std::get<I>(cases_), w, static_cast<std::uint32_t>(I + 1)), 0)
             : 0),
     ...);
    return r;
  }
  template <class C>
  static void unregister_one(C& c) noexcept {
    if constexpr (!detail::is_generic_case<C>) c.sel_unregister();
  }
  template <std::size_t... I>
  void unregister_all(std::index_sequence<I...>) noexcept {
    (unregister_one(std::get<I>(cases_)), ...);
  }
  template <class C>
  static bool completed_one(const C& c) {
    if constexpr (detail::is_generic_case<C>) {
      return false;  // never claims the word
    } else {
      return c.sel_completed();
    }
  }
  template <std::size_t... I>
  bool completed(std::size_t i, std::index_sequence<I...>) const {
    bool r = false;
    ((i == I ? (r = completed_one(std::get<I>(cases_)), 0) : 0), ...);
    return r;
  }
  template <std::size_t... I>
  std::uint32_t poll_self_completing(std::index_sequence<I...>) {
    std::uint32_t won = 0;
    auto one = [&](auto& c, std::uint32_t id) {
      using C = std::remove_reference_t<decltype(c)>;
      if constexpr (detail::is_generic_case<C>) {
        // polled in the try pass only
      } else if constexpr (C::sel_self_completing) {
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
  bool biased_ = false;
  Waker waker_;
};

/// Waits until one of the cases completes (see the top of this file).
/// Cases: Channel<T>::recv(), Channel<T>::send(v), duet::sleep(d) /
/// sleep_until(t) (a timeout case), and any poll future.
///
/// The return types of select and try_select are deduced (`auto`), so that
/// a call whose arguments are not cases (select(duet::biased, ...) against
/// this overload) fails the requires-clause before any case type is formed:
/// clang forms a spelled-out return type first, and FutureCase<Biased> is a
/// hard error, not a substitution failure.
template <class... Cs>
requires(detail::valid_case<Cs>&&...) auto select(Cs&&... cs) {
  return Select<detail::case_t<Cs>...>(std::forward<Cs>(cs)...);
}

/// A biased select: when several cases are ready, the first written wins.
template <class... Cs>
requires(detail::valid_case<Cs>&&...) auto select(Biased b, Cs&&... cs) {
  return Select<detail::case_t<Cs>...>(b, std::forward<Cs>(cs)...);
}

/// Select with a default case: completes one ready case (chosen uniformly
/// at random among the ready ones), or returns an empty optional at once.
template <class... Cs>
requires(detail::valid_case<Cs>&&...) auto try_select(Cs&&... cs) {
  Select<detail::case_t<Cs>...> s(std::forward<Cs>(cs)...);
  return s.try_now();
}
/// A biased try_select: the first ready case written wins.
template <class... Cs>
requires(detail::valid_case<Cs>&&...) auto try_select(Biased b, Cs&&... cs) {
  Select<detail::case_t<Cs>...> s(b, std::forward<Cs>(cs)...);
  return s.try_now();
}

}  // namespace duet

// duet/stackless/task.hpp: Task<T>, a lazy C++20 coroutine, the one
// block its frame lives in, and the state of one run of a spawned coroutine.
//
// Example (file):
//   duet::Task<int> answer() { co_return 42; }
//   duet::Task<int> twice() { co_return 2 * co_await answer(); }
//
// A Task starts when it is awaited (by another Task) or spawned. Awaiting a
// child Task hops to it through the task's run loop (below): a chain of a
// million nested awaits runs in constant thread stack. Inside a Task,
// `co_await` accepts:
//   - another Task<U>,
//   - any poll future (duet::Future): JoinHandles, sync primitives, channel
//     operations, timers, I/O (polled with this task's waker),
//   - duet::yield_now().
// Other awaitables are rejected at compile time: the scheduler must know what
// a suspended task waits on. duet::from_awaitable(a) (duet/bridge.hpp) makes
// a poll future of any C++20 awaitable.
//
// A Task is also a poll future (Task::poll), so it goes wherever one goes.
//
// Example (coroutine):
//   duet::CancellationToken token;
//   auto r = co_await duet::timeout(1s, work());
//   auto s = co_await duet::select(work(), token.cancelled());
//
// Example (fiber):
//   int v = duet::wait(work());
//
// Polled, it runs in its poller (no task of its own: the same run loop as
// a spawned root's, with the poller's waker); a Task that lost (a
// timeout, a select) is destroyed, frame and chain, where it waits.
//
// Frames come from the per-thread block cache (duet/detail/block_cache.hpp),
// each after room for the task header it gets if spawned: a spawn
// allocates nothing more, and no malloc in a steady state. How a frame's
// block, a run's state and the compiler's layout fit together:
// duet/stackless/detail/frame.hpp (not part of the API).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "duet/detail/block_cache.hpp"
#include "duet/detail/check_mode.hpp"
#include "duet/detail/coro_thread.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/detail/thread_local.hpp"
#include "duet/outcome.hpp"
#include "duet/poll.hpp"
#include "duet/stackless/detail/frame.hpp"
#include "duet/yield.hpp"

namespace duet {

template <class T = void>
class Task;

namespace detail {

/// Where an await keeps its future's output between the poll that found it
/// ready and await_resume: the output itself (ResultOf: a value or the
/// exception the poll threw), or, for a two-step future (duet/poll.hpp),
/// only an exception, the output staying in the future until
/// take_ready() moves it out once.
template <class Fut>
class AwaitedOutput {
  using T = future_output_t<Fut>;

 public:
  bool poll(Fut& f, Context& cx) { return out_.capture_poll(f, cx); }
  T take(Fut&) { return out_.take(); }

 private:
  ResultOf<T> out_;
};

template <TwoStepFuture Fut>
class AwaitedOutput<Fut> {
  using T = future_output_t<Fut>;

 public:
  bool poll(Fut& f, Context& cx) {
    try {
      return f.poll_ready(cx);
    } catch (...) {
      error_.set_exception(std::current_exception());
      return true;
    }
  }
  T take(Fut& f) {
    error_.take();
    return f.take_ready();
  }

 private:
  VoidResult error_;
};

/// Awaits a poll future from a coroutine. It refers to the operand, never
/// moves it: an lvalue lives outside the await, and a prvalue operand
/// (`co_await ch.recv()`) is a temporary of the full-expression that holds
/// the co_await, so it lives in the frame until await_resume has run
/// ([class.temporary]). A copy in the awaiter would cost a move per await
/// and the future's size twice in the frame. Its first word
/// is its re-poll (WaitOp): the task keeps only the awaiter's address.
template <class Fut>
class FutureAwaiter : WaitOp {
  using T = future_output_t<Fut>;

 public:
  explicit FutureAwaiter(Fut& f) noexcept : WaitOp{&repoll}, fut_(f) {}

  static constexpr bool await_ready() noexcept { return false; }
  /// Polls once with the run's waker; suspends only when pending. (The
  /// waker comes from the run: no lookup in the frame.)
  bool await_suspend(std::coroutine_handle<>) {
    CoroThread& ct = coro_thread();  // one address: nothing here suspends
    CoroRun& r = *ct.run;
    Context cx(r.waker);
    const bool ready = try_poll(cx);
    ct.run = &r;  // the poll may have run a child in place (its run set its own)
    if (ready) return false;
    r.wait = this;  // the leaf is the coroutine that awaits
    return true;
  }
  T await_resume() { return out_.take(fut_); }

 private:
  bool try_poll(Context& cx) { return out_.poll(fut_, cx); }
  static bool repoll(WaitOp* self, Context& cx) {
    return static_cast<FutureAwaiter*>(self)->try_poll(cx);
  }

  Fut& fut_;
  AwaitedOutput<Fut> out_;
};

/// A yield records nothing: the run ends with the same leaf and no wait.
struct YieldAwaiter {
  static constexpr bool await_ready() noexcept { return false; }
  static constexpr void await_suspend(std::coroutine_handle<>) noexcept {}
  static constexpr void await_resume() noexcept {}
};

template <class>
inline constexpr bool dependent_false = false;

/// Polling an empty Task (moved from, or polled to its end).
[[noreturn]] inline void throw_empty_task() {
  throw std::logic_error("duet::Task: polled after it ended (or moved from)");
}

class PromiseBase {
 public:
  // Every frame has room for a task header in front of it (frame_alloc).
  static void* operator new(std::size_t n) { return frame_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    static constexpr bool await_ready() noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) noexcept {
      // Back to the parent: the run loop resumes it. The root's end ends
      // the run.
      const std::uintptr_t link = h.promise().link_;
      if ((link & root) == 0)
        coro_thread().run->leaf =
            std::coroutine_handle<>::from_address(reinterpret_cast<void*>(link));
    }
    static constexpr void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  template <class U>
  auto await_transform(Task<U>&& t) noexcept {
    return std::move(t).operator co_await();
  }
  template <class U>
  auto await_transform(Task<U>& t) noexcept {
    return std::move(t).operator co_await();
  }
  YieldAwaiter await_transform(YieldNow) noexcept { return {}; }
  template <class F>
  requires(Future<std::remove_reference_t<F>> && !is_task_v<std::remove_cvref_t<F>>)
      FutureAwaiter<std::remove_reference_t<F>> await_transform(F&& f)
  noexcept { return FutureAwaiter<std::remove_reference_t<F>>(f); }
  template <class A>
  requires(!Future<std::remove_reference_t<A>> && !is_task_v<std::remove_cvref_t<A>>) A &&
      await_transform(A&& a) {
    static_assert(dependent_false<A>,
                  "duet::Task can co_await Tasks, poll futures (duet::Future) and "
                  "duet::yield_now(); for another C++20 awaitable, co_await "
                  "duet::from_awaitable(a) (duet/bridge.hpp)");
    return std::forward<A>(a);
  }

  /// Awaited: `p` resumes when this coroutine finishes.
  void set_parent(std::coroutine_handle<> p) noexcept {
    link_ = reinterpret_cast<std::uintptr_t>(p.address());
  }
  /// Neither awaited, spawned nor polled yet.
  [[nodiscard]] bool unstarted() const noexcept { return link_ == 0; }
  /// Parked by a run (a spawned root's, or a polled Task's) while its leaf
  /// waits: the result slot holds the wait (PromiseSlot::unpark).
  [[nodiscard]] bool parked_on_wait() const noexcept { return (link_ & waits) != 0; }

  /// The link of the coroutine whose frame is at `frame`, whatever its
  /// promise type: PromiseBase begins every promise, at promise_offset in
  /// the frame (assumption 2). For the dump's walk of a held task's chain.
  [[nodiscard]] static std::uintptr_t link_in_frame(const void* frame) noexcept {
    return reinterpret_cast<const PromiseBase*>(static_cast<const std::byte*>(frame) +
                                                promise_offset)
        ->link_;
  }

 protected:
  // Tags in a spawned root's link (frames are 64-byte aligned: the low six
  // bits of a frame's address are zero).
  static constexpr std::uintptr_t waits = 1;  // the result slot holds a WaitOp*
  static constexpr std::uintptr_t root = 2;   // this coroutine is a task's root

  /// A child's: its parent's frame. A spawned root's: `root`, and between
  /// runs the task's leaf, tagged `waits` when the leaf waits in an
  /// operation (whose awaiter the root's result slot then holds: a root
  /// that has not returned has no result).
  std::uintptr_t link_ = 0;
};

/// A promise's result slot: the body's result or exception, or, in a
/// spawned root between runs, what its leaf waits in.
template <class T>
class PromiseSlot : public PromiseBase {
 public:
  PromiseSlot() noexcept : out() {}
  ~PromiseSlot() { std::destroy_at(&out); }
  PromiseSlot(const PromiseSlot&) = delete;
  PromiseSlot& operator=(const PromiseSlot&) = delete;

  void unhandled_exception() noexcept { out.set_exception(std::current_exception()); }

  /// The root's side of the run loop (CoroTask). Where the last run left
  /// the leaf, and what it waits in (null: nothing, resume it).
  [[nodiscard]] std::coroutine_handle<> leaf() const noexcept {
    return std::coroutine_handle<>::from_address(reinterpret_cast<void*>(link_ & ~(waits | root)));
  }
  [[nodiscard]] WaitOp* wait() const noexcept { return (link_ & waits) != 0 ? wait_ : nullptr; }
  /// Records where a run left off: the leaf, and what it waits in.
  void park(std::coroutine_handle<> leaf, WaitOp* w) noexcept {
    const auto at = reinterpret_cast<std::uintptr_t>(leaf.address()) | root;
    if (w == nullptr) {
      link_ = at;
    } else {
      // The result is empty (the root has not returned) and owns nothing:
      // its storage is reused without running its destructor.
      wait_ = w;
      link_ = at | waits;
    }
  }
  /// The wait is over (its operation is ready, or the task is cancelled):
  /// the result slot is an empty result again.
  void unpark() noexcept {
    link_ &= ~waits;
    std::construct_at(&out);
  }

  union {
    ResultOf<T> out;
    WaitOp* wait_;
  };
};

template <class T>
class Promise : public PromiseSlot<T> {
 public:
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) {
    this->out.set_value(std::forward<U>(v));
  }
};

template <>
class Promise<void> : public PromiseSlot<void> {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept { out.set_value(); }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  Task() noexcept = default;
  explicit Task(handle_type h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~Task() { reset(); }

  struct Awaiter {
    handle_type child;
    static constexpr bool await_ready() noexcept { return false; }
    void await_suspend(std::coroutine_handle<> parent) noexcept {
      child.promise().set_parent(parent);
      // Suspend the parent; the run loop enters the child (a hop, not a
      // nested resume).
      detail::coro_thread().run->leaf = child;
    }
    T await_resume() { return child.promise().out.take(); }
  };
  /// Awaiting a Task starts it; the awaiter owns nothing (the Task object,
  /// a temporary in the awaiting frame, keeps the child frame alive).
  Awaiter operator co_await() && noexcept { return Awaiter{h_}; }

  /// The poll-future face (duet::Future): runs the coroutine here, in
  /// whatever polls it (an awaiting coroutine, a fiber's duet::wait, a
  /// thread, a combinator), with that poller's waker, until it waits or
  /// ends: ready with its result (or throws its exception), after which the
  /// Task is empty. A yield inside it is a wake and a pending. Dropping a
  /// Task that was polled and not finished destroys its frame, and with it
  /// the chain it awaits: the coroutine is cancelled where it waits (its
  /// destructors run, its waiters unlink), as a future that lost a timeout
  /// or a select is. Once polled, a Task is only polled again or dropped
  /// (not awaited or spawned).
  Poll<T> poll(Context& cx) {
    if (!h_) detail::throw_empty_task();
    auto& p = h_.promise();
    if (p.unstarted()) p.park(h_, nullptr);  // the root of runs of its own
    if (detail::WaitOp* w = p.wait()) {
      if (!w->repoll(w, cx)) return pending;
      p.unpark();
    }
    if (!run_here(cx)) return pending;
    struct Reset {  // ends the frame whether the result is a value or a throw
      Task* t;
      ~Reset() { t->reset(); }
    } reset_after{this};
    if constexpr (std::is_void_v<T>) {
      p.out.take();
      return Unit{};
    } else {
      return p.out.take();
    }
  }

  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(h_); }
  /// Gives up ownership of the frame (for the spawn machinery).
  handle_type release() noexcept { return std::exchange(h_, nullptr); }

 private:
  /// One run of the polled chain, as a spawned task's (CoroTask::run), with
  /// the poller's waker: true when the root has ended. The poller's own run
  /// (if it is a coroutine's) is set back after.
  bool run_here(Context& cx) {
    auto& p = h_.promise();
    detail::CoroRun* const outer = detail::coro_thread().run;
    detail::CoroRun r(cx.waker().data(), cx.waker().vtable());
    r.leaf = p.leaf();
    detail::coro_thread().run = &r;
    for (std::coroutine_handle<> h = r.leaf;; h = r.leaf) {
      h.resume();
      if (r.leaf == h) break;
    }
    detail::coro_thread().run = outer;  // afresh: the poller may be a fiber
    if (h_.done()) return true;
    p.park(r.leaf, r.wait);
    if (r.wait == nullptr) cx.waker().wake_by_ref();  // a yield: poll again soon
    return false;
  }
  void reset() noexcept {
    if (!h_) return;
    // A polled Task parked on a wait keeps the wait in its result slot.
    if (h_.promise().parked_on_wait()) [[unlikely]]
      return reset_parked();
    std::exchange(h_, nullptr).destroy();
  }
  /// reset() of a polled Task dropped while it waits (out of line: the
  /// common reset, inlined into every spawn and await, stays small).
  [[gnu::noinline]] void reset_parked() noexcept {
    h_.promise().unpark();
    std::exchange(h_, nullptr).destroy();
  }
  handle_type h_;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace duet

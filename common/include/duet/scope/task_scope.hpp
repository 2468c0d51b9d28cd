// duet/scope/task_scope.hpp: a scope that owns the tasks spawned into it
// (Tokio's JoinSet, Go's errgroup, C++26 async_scope, Seastar's gate).
//
// Example (coroutine):
//   duet::TaskScope<int> scope;                          // on the calling worker's runtime
//   scope.spawn(duet::stackful, [] { return 1; });       // a fiber
//   scope.spawn(duet::stackful, [] { return 2; });
//   int sum = 0;
//   while (auto r = co_await scope.next()) sum += r->take();  // completion order
//   scope.spawn(duet::stackful, [] { return 3; });
//   std::vector<int> rest = co_await scope.join();       // every child left
//   co_await scope.close();                              // no spawn after this
//
// Children: `scope.spawn(args...)` spawns exactly as `rt.spawn(args...)`
// does (a Task<T>, `duet::stackful, fn`, or a poll future), so either
// backend works once its header is included; every child's result type is
// the scope's T. The scope holds each child's JoinHandle.
//
// Waiting, from a coroutine (co_await), a fiber or a plain thread
// (duet::wait), or as a spawned poll future:
// - next(): the next child to finish, in completion order, as an
//   Outcome<T> (take() returns its value or rethrows its exception, or
//   duet::Cancelled); on a scope that holds no child (size() == 0), open
//   or closed, it is ready at once with an empty optional (Tokio's
//   JoinSet::join_next giving None). So the loop of the example above
//   takes every child and ends.
// - next_spawned(): the same, except on an open scope that holds no
//   child: it waits until one is spawned (by any task) and finishes. The
//   form for a select in a loop beside the source of new children (an
//   accept loop that reaps its finished connections), which next() would
//   win at once while the scope is empty, and spin. On a closed scope
//   with no child it is empty at once, as next().
// - join(): waits for every child, those spawned meanwhile included, and
//   returns their results in completion order (nothing for T = void). If
//   some failed (an exception, or a cancellation), it still waits for all,
//   then rethrows the first failure in completion order. The scope stays
//   open.
// - close(): closes the scope to spawns, cancels every child not finished,
//   and waits until each has ended. Results are dropped as a dropped
//   JoinHandle drops them: an exception nobody took goes to
//   RuntimeConfig::on_detached_exception.
// Waiters: close() may be awaited by any number of tasks at once, each
// woken at the scope's end (tokio-util's TaskTracker::wait); beside them,
// one task at a time may await next(), next_spawned() or join(), which
// take children (Tokio's JoinSet has one owner). Spawns may come from any
// task at once.
//
// The failure policy (ScopeConfig::on_failure): keep_going (the default)
// lets every child run; cancel_rest (errgroup's WithContext) cancels every
// unfinished child at the first failure (an exception or a cancellation),
// at once, from the thread where the failing child ended, and closes the
// scope; join() then rethrows that first failure.
//
// The end of a scope (its destructor): the scope closes, cancels every
// child that has not finished (a parked one is destroyed: frames destroyed,
// fiber stack unwound; a running one at its next suspension) and drops every
// handle; it never blocks and leaks nothing. So a child that borrows from
// the frame that owns the scope needs `co_await scope.join()` (or close())
// before that frame ends. Nested scopes follow: a child that owns a scope
// of its own, cancelled, ends that scope, which cancels its children.
//
// Errors:
// - spawn into a closed scope (after close(), after a first failure under
//   cancel_rest, or during its end) throws duet::ScopeClosed and starts
//   nothing.
// - awaiting a scope (next, next_spawned, join or close) from one of its
//   own children throws std::logic_error: that child would wait for
//   itself. (Detected
//   for direct children: at a poll after the child's spawn returned, or
//   when the scope adopts a child that already waits on it. A child that
//   polls before its own spawn returned may still see the scope without
//   itself; a grandchild awaiting its grandparent's scope is not detected.)
// - a second task awaiting next(), next_spawned() or join() while one
//   waits in them: std::logic_error (a child of the scope gets the error
//   above instead: that check is first). close() has no such limit.
// - a scope must outlive the futures made from it (next, next_spawned,
//   join, close); a close() that waits must not be moved.
//
// The owner: the task that constructed the scope (none on a plain thread;
// a moved scope keeps it, and holds a reference on it until it ends).
// Its spawn+next of one child costs no lock: the newest child waits in the
// owner's lane and next() runs it in place (docs/scope.md). The first
// await, close or cancel by anyone else closes the lane for the scope's
// life (one membarrier(2) call); nothing else changes for them.
//
// Cost per child over its JoinHandle (8 B): 8 B (a 16-byte slot in a
// 4 KiB chunk instead of the handle), plus 16 B per chunk of 255 slots.
// The completion signal is the child's own join waker, pointed at its slot:
// no node per child, no wrapper around the child.
#pragma once

#include "duet/export.hpp"
#include "duet/names.hpp"

#include <array>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "duet/detail/task_header.hpp"
#include "duet/join_handle.hpp"
#include "duet/outcome.hpp"
#include "duet/poll.hpp"
#include "duet/runtime.hpp"
#include "duet/sync/detail/wait_list.hpp"
#include "duet/waker.hpp"

namespace duet {

/// What a scope does when a child fails (throws, or is cancelled).
enum class FailurePolicy : unsigned char {
  keep_going,   // the others run on; join() rethrows the first failure at the end
  cancel_rest,  // the first failure cancels every other child and closes the scope
};
constexpr std::array<FailurePolicy, 2> enum_values(FailurePolicy) noexcept {
  return {FailurePolicy::keep_going, FailurePolicy::cancel_rest};
}
/// "keep_going", "cancel_rest" (duet/names.hpp).
constexpr std::string_view to_string(FailurePolicy p) noexcept {
  return p == FailurePolicy::keep_going ? "keep_going" : "cancel_rest";
}

struct ScopeConfig {
  FailurePolicy on_failure = FailurePolicy::keep_going;
};

/// Thrown by TaskScope::spawn on a closed scope.
class DUET_API ScopeClosed : public std::logic_error {
 public:
  ScopeClosed();
};

namespace detail {

/// The type-erased state of a scope (common/src/scope/task_scope.cpp).
struct ScopeCore;
/// Did the complete task `t` (of the scope's T) fail?
using ScopeFailedFn = bool (*)(TaskHeader* t) noexcept;

/// What one poll of the scope's completion list found.
struct ScopeTake {
  enum Kind : unsigned char { got, empty, pending };
  TaskHeader* task;  // got: a complete child; its handle reference is the caller's
  Kind kind;
};

DUET_API ScopeCore* scope_create(FailurePolicy p, ScopeFailedFn failed);
/// The destructor's rule (see the file comment); gives up the owner's reference.
DUET_API void scope_end(ScopeCore* c) noexcept;
DUET_API bool scope_closed(const ScopeCore* c) noexcept;
/// Takes over the handle reference of the freshly spawned `t`. On a closed
/// scope cancels `t`, drops the reference and throws ScopeClosed.
DUET_API void scope_adopt(ScopeCore* c, TaskHeader* t);
/// next_spawned(): the next completion; with no child, waits while the
/// scope is open.
DUET_API ScopeTake scope_poll_next(ScopeCore* c, Context& cx, const void* awaiter);
/// next() and join(): the next completion; with no child, `empty` at once.
DUET_API ScopeTake scope_poll_join(ScopeCore* c, Context& cx, const void* awaiter);
/// close(): true when every child has ended. Any number of closers wait
/// at once, each in its node.
DUET_API bool scope_poll_close(ScopeCore* c, Context& cx, WaitNode& node);
/// A close() dropped while its node is queued.
DUET_API void scope_forget_closer(ScopeCore* c, WaitNode& node) noexcept;
DUET_API void scope_forget_awaiter(ScopeCore* c, const void* awaiter) noexcept;
DUET_API void scope_move_awaiter(ScopeCore* c, const void* from, const void* to) noexcept;
DUET_API void scope_cancel(ScopeCore* c) noexcept;
DUET_API std::size_t scope_size(ScopeCore* c) noexcept;
[[noreturn]] DUET_API void throw_no_runtime_for_scope();

template <class T>
bool scope_child_failed(TaskHeader* t) noexcept {
  const auto* out = static_cast<const Outcome<T>*>(t->vtable->outcome(t));
  return out->has_exception() || out->is_cancelled();
}

/// The outcome of the complete child `t`, whose handle reference we hold
/// (and give up): moved out as it is, a value, an exception or a
/// cancellation.
template <class T>
std::optional<Outcome<T>> take_child(TaskHeader* t) {
  struct Release {
    TaskHeader* t;
    ~Release() { drop_joined_handle(t); }
  } release{t};
  // The caller's acquire saw the completion, which published the outcome.
  // The move leaves *done empty (nothing for the handle's drop to report).
  auto* done = static_cast<Outcome<T>*>(t->vtable->outcome(t));
  return std::optional<Outcome<T>>(std::in_place, std::move(*done));
}

/// The awaiter registration that next and join futures share: the scope
/// knows its one waiter by the future's address, so a move re-registers and
/// a destruction deregisters.
class ScopeAwaiter {
 public:
  explicit ScopeAwaiter(ScopeCore* c) noexcept : c_(c) {}
  ScopeAwaiter(ScopeAwaiter&& o) noexcept
      : c_(o.c_), registered_(std::exchange(o.registered_, false)) {
    if (registered_) scope_move_awaiter(c_, &o, this);
  }
  ScopeAwaiter& operator=(ScopeAwaiter&&) = delete;
  ~ScopeAwaiter() {
    if (registered_) scope_forget_awaiter(c_, this);
  }

 protected:
  ScopeCore* c_;
  bool registered_ = false;
};

}  // namespace detail

template <class T>
class TaskScope {
 public:
  /// A scope on `rt`.
  explicit TaskScope(Runtime& rt, ScopeConfig o = {})
      : rt_(&rt), c_(detail::scope_create(o.on_failure, &detail::scope_child_failed<T>)) {}
  /// A scope on the calling worker's runtime (std::logic_error elsewhere).
  explicit TaskScope(ScopeConfig o = {}) : TaskScope(current_runtime(), o) {}
  TaskScope(TaskScope&& o) noexcept : rt_(o.rt_), c_(std::exchange(o.c_, nullptr)) {}
  TaskScope& operator=(TaskScope&&) = delete;
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;
  ~TaskScope() {
    if (c_ != nullptr) detail::scope_end(c_);
  }

  /// Spawns a child (as rt.spawn(a...)). Throws ScopeClosed on a closed
  /// scope, before anything starts.
  template <class... A>
  void spawn(A&&... a) {
    if (detail::scope_closed(c_)) throw ScopeClosed{};
    auto h = spawn_on(*rt_, std::forward<A>(a)...);
    static_assert(std::is_same_v<typename decltype(h)::value_type, T>,
                  "duet::TaskScope<T>::spawn: every child returns T");
    detail::scope_adopt(c_, h.into_raw());
  }

  /// The future of next() (WaitsForSpawn false) and of next_spawned()
  /// (true): they differ only on an open scope that holds no child.
  template <bool WaitsForSpawn>
  class [[nodiscard]] NextChild : detail::ScopeAwaiter {
   public:
    explicit NextChild(detail::ScopeCore* c) noexcept : ScopeAwaiter(c) {}
    NextChild(NextChild&& o) noexcept
        : ScopeAwaiter(std::move(o)), got_(std::exchange(o.got_, nullptr)) {}
    NextChild& operator=(NextChild&&) = delete;
    /// A child taken by poll_ready() and never by take_ready() is dropped
    /// as a dropped JoinHandle drops it (an exception goes to
    /// RuntimeConfig::on_detached_exception).
    ~NextChild() {
      if (got_ != nullptr) detail::drop_join_handle(got_);
    }

    Poll<std::optional<Outcome<T>>> poll(Context& cx) {
      if (!poll_ready(cx)) return pending;
      return take_ready();
    }
    /// The two-step face of poll() (duet/poll.hpp, TwoStepFuture): ready
    /// keeps the child taken (null: the scope holds no child) until
    /// take_ready() moves its outcome out.
    bool poll_ready(Context& cx) {
      if (got_ != nullptr) return true;  // polled ready before, not taken yet
      const detail::ScopeTake r = WaitsForSpawn ? detail::scope_poll_next(c_, cx, this)
                                                : detail::scope_poll_join(c_, cx, this);
      registered_ = r.kind == detail::ScopeTake::pending;
      if (r.kind == detail::ScopeTake::got) got_ = r.task;
      return !registered_;
    }
    std::optional<Outcome<T>> take_ready() {
      if (got_ == nullptr) return std::nullopt;
      return detail::take_child<T>(std::exchange(got_, nullptr));
    }

   private:
    detail::TaskHeader* got_ = nullptr;  // taken from the scope, not yet moved out
  };
  using Next = NextChild<false>;
  using NextSpawned = NextChild<true>;

  class [[nodiscard]] Join : detail::ScopeAwaiter {
   public:
    using Output = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
    explicit Join(detail::ScopeCore* c) noexcept : ScopeAwaiter(c) {}
    Poll<Output> poll(Context& cx) {
      for (;;) {
        const detail::ScopeTake r = detail::scope_poll_join(c_, cx, this);
        registered_ = r.kind == detail::ScopeTake::pending;
        if (registered_) return pending;
        if (r.kind == detail::ScopeTake::empty) break;
        keep(std::move(*detail::take_child<T>(r.task)));
      }
      if (first_error_) std::rethrow_exception(std::exchange(first_error_, nullptr));
      if constexpr (std::is_void_v<T>) {
        return ready();
      } else {
        return std::move(results_);
      }
    }

   private:
    void keep(Outcome<T> out) {
      if (out.has_exception()) {
        if (!first_error_) first_error_ = out.exception();
      } else if (out.is_cancelled()) {
        if (!first_error_) first_error_ = std::make_exception_ptr(Cancelled{});
      } else if constexpr (std::is_void_v<T>) {
        out.take();
      } else {
        results_.push_back(out.take());
      }
    }
    struct NoResults {};
    [[no_unique_address]] std::conditional_t<std::is_void_v<T>, NoResults, std::vector<T>> results_;
    std::exception_ptr first_error_;
  };

  /// Any number of Close futures may wait at once: each is a waiter node
  /// in the scope's list (duet/sync/detail/wait_list.hpp), so it must not
  /// be moved while it waits.
  class [[nodiscard]] Close {
   public:
    explicit Close(detail::ScopeCore* c) noexcept : c_(c) {}
    Close(Close&& o) noexcept : c_(o.c_) {
      if (o.node_.load_status() == detail::st_queued) detail::moved_while_linked();
    }
    Close& operator=(Close&&) = delete;
    ~Close() {
      // Acquire (load_status): a closer that completed the node wrote into
      // it first (status rule, wait_list.hpp).
      if (node_.load_status() == detail::st_queued) detail::scope_forget_closer(c_, node_);
    }
    Poll<void> poll(Context& cx) {
      if (!detail::scope_poll_close(c_, cx, node_)) return pending;
      return ready();
    }

   private:
    detail::ScopeCore* c_;
    detail::WaitNode node_;
  };

  /// The next child to finish; empty at once when the scope holds none
  /// (see the file comment).
  Next next() noexcept { return Next(c_); }
  /// The next child to finish; on an open scope that holds none, waits for
  /// one to be spawned and finish (see the file comment).
  NextSpawned next_spawned() noexcept { return NextSpawned(c_); }
  /// Every child's result, in completion order (see the file comment).
  Join join() noexcept { return Join(c_); }
  /// Closes, cancels and waits for every child (see the file comment).
  Close close() noexcept { return Close(c_); }
  /// Requests cancellation of every child not finished; the scope stays
  /// open, and each shows up in next() as duet::Cancelled (unless it
  /// finished first).
  void cancel() noexcept { detail::scope_cancel(c_); }
  /// Children whose outcome the scope holds or waits for.
  [[nodiscard]] std::size_t size() const noexcept { return detail::scope_size(c_); }
  [[nodiscard]] bool closed() const noexcept { return detail::scope_closed(c_); }

 private:
  static Runtime& current_runtime() {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) detail::throw_no_runtime_for_scope();
    return *rt;
  }
  Runtime* rt_;
  detail::ScopeCore* c_;
};

}  // namespace duet

// duet/join_handle.hpp: one handle type for every task, whatever its kind.
//
// Example (coroutine):
//   auto h = duet::spawn(duet::stackful, [] { return 7; });
//   int v = co_await h;   // in a coroutine (h is a poll future)
//   auto k = duet::spawn(duet::stackful, [] { return 8; });
//   int w = k.join();     // in a fiber (parks the fiber) or outside the runtime
//
// Results and exceptions travel to the joiner; a cancelled task joins as a
// `duet::Cancelled` exception. A handle joins once: afterwards it is empty,
// and joining an empty handle throws std::logic_error.
//
// Dropping a handle detaches the task (it keeps running; its result is
// dropped, and an exception it throws is reported through
// RuntimeConfig::on_detached_exception). To stop a task, call cancel().
// To stop it when the handle goes, make the handle a CancelOnDrop
// (tokio-util's AbortOnDropHandle): then a handle that loses a timeout or a
// select, or goes with the frame that owns it, cancels its task.
//
// Example (coroutine):
//   auto h = duet::spawn(work()).cancel_on_drop();
//   auto r = co_await duet::timeout(1s, std::move(h));  // timed out: cancelled
//
// Another task may cancel it too: a CancelHandle (Tokio's AbortHandle) is a
// copyable reference to the task that can cancel it and ask whether it
// finished, from any thread, before or after it ends; it cannot join. And
// a join that must tell a cancellation apart without a catch takes the
// outcome whole: `co_await h.outcome()` is the task's Outcome<T> (a value,
// an exception, or cancelled: is_cancelled()), not its value.
//
// Example (coroutine):
//   auto h = duet::spawn(work());
//   duet::CancelHandle stop = h.cancel_handle();  // copy it to whoever may stop it
//   stop.cancel();
//   duet::Outcome<int> out = co_await h.outcome();
//   if (out.is_cancelled()) { /* stopped before it finished */ }
#pragma once

#include "duet/export.hpp"

#include <stdexcept>
#include <utility>

#include "duet/detail/current.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/outcome.hpp"
#include "duet/poll.hpp"
#include "duet/wait.hpp"
#include "duet/waker.hpp"

namespace duet {

namespace detail {
/// The JOIN_WAKER protocol: true when the task is complete and its outcome
/// may be read; otherwise registers cx's waker and returns false.
DUET_API bool poll_join(TaskHeader* t, Context& cx);
/// Drops the handle's interest and reference.
DUET_API void drop_join_handle(TaskHeader* t) noexcept;
/// drop_join_handle after the handle took the outcome (nothing to drop).
DUET_API void drop_joined_handle(TaskHeader* t) noexcept;
/// Requests cancellation (see JoinHandle::cancel).
DUET_API void cancel_task(TaskHeader* t) noexcept;
/// The JOIN_WAKER protocol without poll_join's inline run of the child:
/// true when the task is complete; otherwise publishes `w` (a clone) to be
/// woken at completion and returns false. For containers of handles
/// (TaskScope) that watch a child they have just spawned.
DUET_API bool watch_join(TaskHeader* t, const Waker& w);
/// poll_join's inline run without its registration: runs `t` here when
/// this worker would run it next, then true when it is complete. Nothing is
/// published either way. Only for the holder of t's one handle, and only
/// while no other thread may request t's cancellation (the inline run's
/// transitions may take its word as unreachable: state.hpp,
/// to_running_joined): TaskScope's unwatched child.
DUET_API bool run_join_inline(TaskHeader* t);
[[noreturn]] DUET_API void throw_empty_handle();
}  // namespace detail

template <class T>
class CancelOnDrop;
template <class T>
class JoinOutcome;

/// A copyable handle that cancels a task and tells whether it finished
/// (Tokio's AbortHandle), made by JoinHandle::cancel_handle(). It holds a
/// reference to the task, as a Waker does, so it stays usable after the
/// task ended and after its JoinHandle was joined or dropped; it cannot
/// join. Safe from any thread.
///
/// cancel() is JoinHandle::cancel(): the same request through the same
/// path, so the same outcome: a coroutine or poll task is destroyed where
/// it waits (at once when parked, at its next suspension when running; its
/// frame's destructors run), a fiber's stack is unwound (destructors run)
/// from the park it is in or its next one; the join then throws
/// duet::Cancelled, unless the task finished first. On a finished task, or
/// an empty handle (default-made, or moved from), cancel() does nothing, as
/// JoinHandle::cancel() on an empty handle does.
class CancelHandle {
 public:
  CancelHandle() noexcept = default;
  CancelHandle(const CancelHandle& o) noexcept : t_(o.t_) {
    if (t_ != nullptr) t_->ref();
  }
  CancelHandle(CancelHandle&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  CancelHandle& operator=(CancelHandle o) noexcept {
    std::swap(t_, o.t_);
    return *this;
  }
  ~CancelHandle() {
    if (t_ != nullptr) t_->unref();
  }

  /// Requests the task's cancellation (see the class comment); a no-op on
  /// a finished task or an empty handle.
  void cancel() const noexcept {
    if (t_ != nullptr) detail::cancel_task(t_);
  }
  /// Has the task finished (returned, thrown, or been cancelled)? False
  /// for an empty handle.
  [[nodiscard]] bool is_finished() const noexcept {
    return t_ != nullptr && t_->load().is_complete();
  }
  /// False for an empty handle.
  [[nodiscard]] bool valid() const noexcept { return t_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }

 private:
  template <class T>
  friend class JoinHandle;
  /// Takes a new reference on `t`.
  explicit CancelHandle(detail::TaskHeader* t) noexcept : t_(t) {
    if (t_ != nullptr) t_->ref();
  }
  detail::TaskHeader* t_ = nullptr;
};

template <class T>
class JoinHandle {
 public:
  using value_type = T;
  JoinHandle() noexcept = default;
  /// Adopts the handle reference of a freshly submitted task.
  explicit JoinHandle(detail::TaskHeader* t) noexcept : t_(t) {}
  JoinHandle(JoinHandle&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& o) noexcept {
    if (this != &o) {
      reset();
      t_ = std::exchange(o.t_, nullptr);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { reset(); }

  /// The poll-future face: ready with the result (or throws the task's
  /// exception / Cancelled); the handle is empty afterwards.
  Poll<T> poll(Context& cx) {
    if (t_ == nullptr) detail::throw_empty_handle();
    if (!detail::poll_join(t_, cx)) return pending;
    auto* out = static_cast<Outcome<T>*>(t_->vtable->outcome(t_));
    struct Release {
      JoinHandle* h;
      ~Release() { detail::drop_joined_handle(std::exchange(h->t_, nullptr)); }
    } release{this};
    if constexpr (std::is_void_v<T>) {
      out->take();
      return Unit{};
    } else {
      return out->take();
    }
  }

  /// Blocks until the task finishes and returns its result. In a fiber it
  /// parks the fiber; on a plain thread it parks the thread; on a worker
  /// running a stackless task it throws std::logic_error (use co_await).
  T join() {
    if (t_ == nullptr) detail::throw_empty_handle();
    return duet::wait(*this);
  }

  /// Requests cancellation: a waiting task is woken and destroyed (frame
  /// destroyed, fiber stack unwound); a running one at its next suspension.
  /// The join then throws duet::Cancelled, unless the task finished first.
  void cancel() noexcept {
    if (t_ != nullptr) detail::cancel_task(t_);
  }
  /// A copyable handle that cancels this task (see CancelHandle); empty
  /// when this handle is.
  [[nodiscard]] CancelHandle cancel_handle() const noexcept { return CancelHandle(t_); }
  /// The join as the task's whole Outcome<T> (a value, an exception or a
  /// cancellation: Outcome::is_cancelled()), which the caller reads without
  /// a catch: a poll future, like the handle, that leaves it empty. Joining
  /// an empty handle throws std::logic_error, as the plain join does.
  [[nodiscard]] JoinOutcome<T> outcome() noexcept;
  /// Lets the task run on without anyone joining it.
  void detach() noexcept { reset(); }
  /// This handle as one that cancels its task when dropped unjoined.
  [[nodiscard]] CancelOnDrop<T> cancel_on_drop() && noexcept;

  [[nodiscard]] bool is_finished() const noexcept {
    return t_ != nullptr && t_->load().is_complete();
  }
  /// Gives up the handle's reference without dropping it: the caller owns
  /// it, and JoinHandle<T>(t) adopts it back (for duet's own containers of
  /// handles, such as TaskScope). The handle is empty afterwards.
  [[nodiscard]] detail::TaskHeader* into_raw() noexcept { return std::exchange(t_, nullptr); }
  /// False once joined or detached.
  [[nodiscard]] bool valid() const noexcept { return t_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }

 private:
  friend class JoinOutcome<T>;
  void reset() noexcept {
    if (t_ != nullptr) detail::drop_join_handle(std::exchange(t_, nullptr));
  }
  detail::TaskHeader* t_ = nullptr;
};

/// The future of JoinHandle::outcome(): it borrows the handle, which must
/// outlive it, and is ready with the task's Outcome<T> moved out.
template <class T>
class [[nodiscard]] JoinOutcome {
 public:
  explicit JoinOutcome(JoinHandle<T>& h) noexcept : h_(&h) {}

  Poll<Outcome<T>> poll(Context& cx) {
    if (h_->t_ == nullptr) detail::throw_empty_handle();
    if (!detail::poll_join(h_->t_, cx)) return pending;
    detail::TaskHeader* t = std::exchange(h_->t_, nullptr);
    struct Release {
      detail::TaskHeader* t;
      ~Release() { detail::drop_joined_handle(t); }
    } release{t};
    // The move leaves the task's outcome empty: nothing for the drop to
    // report.
    return std::move(*static_cast<Outcome<T>*>(t->vtable->outcome(t)));
  }

 private:
  JoinHandle<T>* h_;
};

template <class T>
JoinOutcome<T> JoinHandle<T>::outcome() noexcept {
  return JoinOutcome<T>(*this);
}

/// A JoinHandle that cancels its task when dropped before the join (then
/// drops it as a JoinHandle does): a poll future like the handle, so a
/// timeout or a select that drops it stops the task. into_handle() gives
/// the plain handle back (which detaches on drop).
template <class T>
class [[nodiscard]] CancelOnDrop {
 public:
  using value_type = T;
  explicit CancelOnDrop(JoinHandle<T> h) noexcept : h_(std::move(h)) {}
  CancelOnDrop(CancelOnDrop&&) noexcept = default;
  CancelOnDrop& operator=(CancelOnDrop&& o) noexcept {
    if (this != &o) {
      h_.cancel();
      h_ = std::move(o.h_);
    }
    return *this;
  }
  ~CancelOnDrop() { h_.cancel(); }

  Poll<T> poll(Context& cx) { return h_.poll(cx); }
  T join() { return h_.join(); }
  void cancel() noexcept { h_.cancel(); }
  [[nodiscard]] CancelHandle cancel_handle() const noexcept { return h_.cancel_handle(); }
  [[nodiscard]] bool is_finished() const noexcept { return h_.is_finished(); }
  [[nodiscard]] bool valid() const noexcept { return h_.valid(); }
  explicit operator bool() const noexcept { return h_.valid(); }
  /// The plain handle, which detaches on drop; this one is empty after.
  [[nodiscard]] JoinHandle<T> into_handle() && noexcept { return std::move(h_); }

 private:
  JoinHandle<T> h_;
};

template <class T>
CancelOnDrop<T> JoinHandle<T>::cancel_on_drop() && noexcept {
  return CancelOnDrop<T>(std::move(*this));
}

}  // namespace duet

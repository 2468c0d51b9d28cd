// duet/cancel/token.hpp: cancellation tokens: trees, callbacks, deadlines,
// and std::stop_token interop.
//
// Example (coroutine):
//   duet::CancellationToken root;
//   auto job = root.child();                          // cancelled with root
//   auto timed = duet::CancellationToken::with_timeout(job, std::chrono::seconds(5));
//   auto ch = duet::Channel<int>::bounded(4);
//   auto r = co_await duet::select(ch.recv(), timed.cancelled());
//   if (r.is<1>()) { /* cancelled: root.cancel(), or 5 s passed */ }
//   duet::CancelCallback cb(job, [] { /* runs once, when job is cancelled */ });
//   if (job.is_cancelled()) co_return;                // the cheap check
//
// Rules:
// - A token is a shared handle (copies name the same token). cancel() is
//   idempotent; the first call runs the token's callbacks, wakes its
//   cancelled() futures and cancels its children, on the calling thread,
//   with no lock held, in registration order, and returns once every
//   descendant is cancelled (another thread may see is_cancelled() on the
//   parent before the cascade reaches a child). A child never cancels its
//   parent.
// - is_cancelled() is one acquire load: no locked instruction while nothing
//   is cancelled (the hot-path check).
// - cancelled() is a poll future (co_await it, duet::wait it, spawn it, or
//   make it a select case); ready once the token is cancelled.
// - Re-entrancy: a callback may cancel its own token or any other (a second
//   cancel() returns false at once), register callbacks (they run at once),
//   make children (born cancelled), or destroy its own CancelCallback.
// - Destroying a CancelCallback (or a pending cancelled() future) while its
//   callback runs on another thread waits for the callback to return (the
//   rule of std::stop_callback); after the destructor, it never runs.
// - with_deadline(parent, t): a child that also cancels itself at t, on
//   duet's process-wide timer wheel (so it works on a plain thread, and
//   outlives any runtime), whose loop runs on a blocking-pool thread; its
//   callbacks then run on that thread and must not block.
//   Its deadline() is the earlier of t and the parent's. t =
//   Instant::max() is no deadline: nothing is armed, and the child's
//   deadline() is its parent's (empty at a root). with_timeout(parent, d)
//   is with_deadline(parent, deadline_after(d)), which saturates: a
//   duration too large for the clock (nanoseconds::max()) is no deadline
//   either, a negative one has passed (duet/time/clock.hpp).
// - from_stop_token(st): a root token cancelled when st's source requests
//   stop (a std::stop_callback); stop_token(): a std::stop_token whose
//   source requests stop when this token is cancelled.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <utility>

#include "duet/poll.hpp"
#include "duet/time/sleep.hpp"
#include "duet/waker.hpp"

namespace duet {

namespace detail {

/// One thing to run on cancellation: a callback, a waiting future, a child.
/// Linked into its token's list (guarded by the token's lock).
struct CancelRegistration {
  CancelRegistration* prev = nullptr;
  CancelRegistration* next = nullptr;
  void (*run)(CancelRegistration*) noexcept = nullptr;
  void* owner = nullptr;      // what run() acts on
  bool linked = false;        // guarded by the state's lock
  bool* destroyed = nullptr;  // set by cancel() while it runs this one
};

struct CancelExtras;  // deadline timer, stop_token bridges (src/cancel)

/// The shared state of one token.
class DUET_API CancelState : public std::enable_shared_from_this<CancelState> {
 public:
  CancelState() noexcept;
  ~CancelState();
  CancelState(const CancelState&) = delete;
  CancelState& operator=(const CancelState&) = delete;

  [[nodiscard]] bool is_cancelled() const noexcept {
    // Acquire: pairs with cancel()'s release store, so what the canceller
    // wrote before cancel() is visible to whoever sees the flag. A plain
    // load (no RMW) suffices: the flag only goes false -> true, once.
    return cancelled_.load(std::memory_order_acquire);
  }
  /// True for the call that cancelled it (runs the registrations).
  bool cancel() noexcept;
  /// Links r; false (r not linked) when already cancelled.
  bool attach(CancelRegistration& r) noexcept;
  /// Unlinks r, or waits while another thread runs it (see the file head).
  void detach(CancelRegistration& r) noexcept;
  /// The cancelled() future's poll: true when cancelled; otherwise links r
  /// (once) with `slot` set to cx's waker.
  bool poll_wait(CancelRegistration& r, Waker& slot, Context& cx) noexcept;

  std::shared_ptr<CancelState> make_child();
  void set_deadline(Instant t);
  [[nodiscard]] std::optional<Instant> deadline() const noexcept { return deadline_; }
  void bridge_from(std::stop_token st);
  std::stop_token bridge_to();

 private:
  static void cancel_child(CancelRegistration* r) noexcept;

  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  CancelRegistration* head_ = nullptr;     // guarded by mu_
  CancelRegistration* tail_ = nullptr;     // guarded by mu_
  CancelRegistration* running_ = nullptr;  // guarded by mu_
  std::thread::id canceller_;              // guarded by mu_
  std::shared_ptr<CancelState> parent_;
  CancelRegistration in_parent_;  // this child's entry in parent_'s list
  std::optional<Instant> deadline_;
  std::unique_ptr<CancelExtras> extras_;  // created before the state is shared
};

}  // namespace detail

class CancellationToken;

/// The poll future of CancellationToken::cancelled(): ready (duet::Unit)
/// once the token is cancelled. Dropping it pending withdraws its waiter.
class [[nodiscard]] DUET_API CancelledFuture {
 public:
  explicit CancelledFuture(std::shared_ptr<detail::CancelState> s) noexcept : s_(std::move(s)) {
    reg_.run = &wake;
    reg_.owner = this;
  }
  CancelledFuture(CancelledFuture&& o) noexcept : s_(o.s_) {
    if (o.armed_) detail::moved_while_linked();
    reg_.run = &wake;
    reg_.owner = this;
  }
  CancelledFuture& operator=(CancelledFuture&&) = delete;
  ~CancelledFuture() {
    if (armed_) s_->detach(reg_);
  }
  /// Ready once the token is cancelled. A future kept across polls (a
  /// select over it and a read, made again per read, that borrows it) pays
  /// the token's lock once: re-polled by the task it is registered for, it
  /// only reads the flag.
  Poll<void> poll(Context& cx) {
    if (s_->is_cancelled()) return ready();
    // Registered for this task already: reg_ stays linked until cancel()
    // runs it, which wakes waker_, this same task (a waker names its task,
    // duet/waker.hpp); a cancel that has begun and not reached reg_ yet
    // wakes it too. Reading waker_ here needs no lock: only this future's
    // polls write it (under the lock), and cancel() only reads it.
    if (armed_ && waker_.will_wake(cx.waker())) return pending;
    armed_ = true;
    return s_->poll_wait(reg_, waker_, cx) ? Poll<void>(ready()) : Poll<void>(pending);
  }

 private:
  static void wake(detail::CancelRegistration* r) noexcept;

  std::shared_ptr<detail::CancelState> s_;
  detail::CancelRegistration reg_;
  // The task to wake: written by poll_wait under the state's lock, read by
  // this future's polls and by cancel() (wake_by_ref; never moved out, so
  // a poll racing the cancel reads a stable waker).
  Waker waker_;
  bool armed_ = false;  // polled: reg_ may be linked
};

/// A cancellation token (see the top of this file).
class DUET_API CancellationToken {
 public:
  /// A new root token, not cancelled.
  CancellationToken();

  /// A child: cancelled when this token is (or at once if it already is).
  [[nodiscard]] CancellationToken child() const;
  /// A child of `parent` that also cancels itself at `when`.
  [[nodiscard]] static CancellationToken with_deadline(const CancellationToken& parent,
                                                       Instant when);
  template <class Rep, class Period>
  [[nodiscard]] static CancellationToken with_timeout(const CancellationToken& parent,
                                                      std::chrono::duration<Rep, Period> d) {
    return with_deadline(parent, deadline_after(d));
  }
  /// A root token cancelled when `st`'s source requests stop.
  [[nodiscard]] static CancellationToken from_stop_token(std::stop_token st);

  /// Cancels this token and its descendants; true for the call that did.
  bool cancel() const noexcept {
    auto keep = s_;  // a callback may drop the last other handle
    return keep->cancel();
  }
  [[nodiscard]] bool is_cancelled() const noexcept { return s_->is_cancelled(); }
  /// Ready once cancelled: an operation (co_await, duet::wait, select case).
  [[nodiscard]] CancelledFuture cancelled() const { return CancelledFuture(s_); }
  /// The earliest deadline of this token and its ancestors, if any.
  [[nodiscard]] std::optional<Instant> deadline() const noexcept { return s_->deadline(); }
  /// A std::stop_token that is stop_requested() once this token is cancelled.
  [[nodiscard]] std::stop_token stop_token() const { return s_->bridge_to(); }

  friend bool operator==(const CancellationToken& a, const CancellationToken& b) noexcept {
    return a.s_ == b.s_;
  }

 private:
  template <class F>
  friend class CancelCallback;
  explicit CancellationToken(std::shared_ptr<detail::CancelState> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<detail::CancelState> s_;
};

/// Runs `f` once when the token is cancelled (at once, on this thread, if it
/// already is), unless destroyed first. Not movable (it is linked). `f` must
/// not throw (cancel() is noexcept).
template <class F>
class [[nodiscard]] CancelCallback : detail::CancelRegistration {
 public:
  template <class G>
  CancelCallback(const CancellationToken& t, G&& f) : s_(t.s_), f_(std::forward<G>(f)) {
    run = &invoke;
    if (!s_->attach(*this)) f_();
  }
  CancelCallback(const CancelCallback&) = delete;
  CancelCallback& operator=(const CancelCallback&) = delete;
  ~CancelCallback() { s_->detach(*this); }

 private:
  static void invoke(detail::CancelRegistration* r) noexcept {
    static_cast<CancelCallback*>(r)->f_();
  }
  std::shared_ptr<detail::CancelState> s_;
  F f_;
};
template <class G>
CancelCallback(const CancellationToken&, G&&) -> CancelCallback<std::decay_t<G>>;

}  // namespace duet

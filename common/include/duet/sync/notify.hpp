// duet/sync/notify.hpp: wake one waiter or all of them, with no lost
// notification.
//
// Example (coroutine):
//   duet::Notify n;
//   co_await n.notified();     // waits (coroutine); duet::wait(...) elsewhere
//   n.notify_one();            // wakes one waiter, or leaves a permit
//   n.notify_all();            // wakes every current waiter
//
// Rules (as Tokio's Notify):
// - notify_one() with nobody waiting stores one permit (permits do not add
//   up); the next notified() completes at once by consuming it.
// - notify_all() wakes every waiter that is queued, and also completes every
//   Notified future *created* before the call, even if it had not been
//   polled yet. So the pattern below cannot miss a notify_all between the
//   check and the wait.
// - A Notified that was picked by notify_one and is destroyed before it saw
//   the notification passes it on (notify_one again).
//
// Example (coroutine):
//   duet::Notify notify;
//   std::atomic<bool> ready{false};
//   auto waiter = notify.notified();  // created before the check
//   if (!ready.load()) co_await waiter;
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <cstdint>

#include "duet/poll.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"

namespace duet {

class DUET_API Notify {
 public:
  Notify() noexcept = default;
  Notify(const Notify&) = delete;
  Notify& operator=(const Notify&) = delete;

  void notify_one() noexcept;
  void notify_all() noexcept;
  /// Tier 1: consumes a stored permit if there is one (never waits).
  bool try_notified() noexcept;

  class [[nodiscard]] Notified {
   public:
    explicit Notified(Notify* n) noexcept
        // Acquire: pairs with notify_all's release increment (a notify_all
        // we did not see happened after this point).
        : n_(n), gen_(n->gen_.load(std::memory_order_acquire)) {}
    Notified(Notified&& o) noexcept : n_(o.n_), gen_(o.gen_) {
      if (o.w_.status.load(std::memory_order_relaxed) != detail::st_idle) {
        detail::moved_while_linked();
      }
    }
    Notified& operator=(Notified&&) = delete;
    ~Notified() {
      // Relaxed: see Semaphore::Acquire; cancel() re-checks under the lock.
      if (w_.status.load(std::memory_order_relaxed) != detail::st_idle) n_->cancel(w_);
    }
    Poll<void> poll(Context& cx);

   private:
    Notify* n_;
    std::uint64_t gen_;
    detail::WaitNode w_;
  };
  Notified notified() noexcept { return Notified(this); }

 private:
  void cancel(detail::WaitNode& w) noexcept;

  detail::SpinLock lock_;
  detail::WaitList<> waiters_;
  bool permit_ = false;  // guarded by lock_
  std::atomic<std::uint64_t> gen_{0};
};

}  // namespace duet

// duet/sync/barrier.hpp: n parties meet; the last to arrive releases all.
//
// Example (coroutine):
//   duet::Barrier b(3);
//   auto r = co_await b.wait();   // r.is_leader() for exactly one party
//
// Reusable: after it trips, the next n arrivals form the next generation.
// A waiter that is destroyed before the barrier trips (cancelled, timed out)
// withdraws its arrival.
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <cstdint>

#include "duet/poll.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"

namespace duet {

class BarrierWaitResult {
 public:
  explicit BarrierWaitResult(bool leader) noexcept : leader_(leader) {}
  /// True for exactly one party of each generation (the last to arrive).
  [[nodiscard]] bool is_leader() const noexcept { return leader_; }

 private:
  bool leader_;
};

class DUET_API Barrier {
 public:
  explicit Barrier(std::size_t n) noexcept : n_(n == 0 ? 1 : n) {}
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  class [[nodiscard]] Wait {
   public:
    explicit Wait(Barrier* b) noexcept : b_(b) {}
    Wait(Wait&& o) noexcept : b_(o.b_) {
      // Status rule (duet/sync/detail/wait_list.hpp).
      if (o.w_.status.load(std::memory_order_relaxed) != detail::st_idle) {
        detail::moved_while_linked();
      }
    }
    Wait& operator=(Wait&&) = delete;
    ~Wait() {
      // Acquire: a notifier that completed this waiter wrote into it (moved
      // its waker out) before its release store; those writes must
      // happen-before the node's members are destroyed here.
      if (w_.status.load(std::memory_order_acquire) == detail::st_queued) b_->cancel(w_);
    }
    Poll<BarrierWaitResult> poll(Context& cx);

   private:
    Barrier* b_;
    detail::WaitNode w_;
  };
  Wait wait() noexcept { return Wait(this); }

 private:
  void cancel(detail::WaitNode& w) noexcept;

  const std::size_t n_;
  detail::SpinLock lock_;
  detail::WaitList<> waiters_;
  std::size_t arrived_ = 0;  // guarded by lock_
};

}  // namespace duet

// duet/sync/semaphore.hpp: a counting semaphore, FIFO-fair, with
// zero-allocation waiters (the Acquire future carries its own node).
//
// Example (coroutine):
//   duet::Semaphore sem(4);
//   if (sem.try_acquire(2)) sem.release(2);  // tier 1: never waits
//   co_await sem.acquire(2);                 // tier 2 in a coroutine
//   sem.release(2);
//   duet::wait(sem.acquire(2));              // ... in a fiber or on a plain thread
//   sem.release(2);
//
// Waiters are served in arrival order: a waiter that needs many permits is
// not overtaken by later small requests (so RwLock built on it does not
// starve writers). While anyone waits, try_acquire and the fast path of
// acquire do not take permits either.
//
// Uncontended, acquire and release are one atomic read-modify-write each;
// the lock is taken only when somebody waits.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <cstddef>
#include <utility>

#include "duet/poll.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"
#include "duet/waker.hpp"

namespace duet {

class DUET_API Semaphore {
  struct Waiter : detail::WaitNode {
    std::size_t needed = 0;
  };

 public:
  /// The most permits a semaphore can hold.
  static constexpr std::size_t max_permits = std::size_t{1} << 62;

  explicit Semaphore(std::size_t permits) noexcept : permits_(permits) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// Takes `n` permits if they are available and nobody is waiting.
  [[nodiscard]] bool try_acquire(std::size_t n = 1) noexcept {
    // Relaxed: a stale "nobody waits" only lets this call take permits that
    // are really there (the CAS below decides); a stale "somebody waits"
    // makes it fail, which try_acquire may always do.
    if (contended_.load(std::memory_order_relaxed)) return false;
    return take(n);
  }

  /// The poll future of acquire(n): ready (void) once the caller holds `n`
  /// permits. Destroying it while it waits withdraws the request; destroying
  /// it after it was granted but before it saw the grant gives the permits
  /// back (to the next waiter).
  class [[nodiscard]] Acquire {
   public:
    Acquire(Semaphore* s, std::size_t n) noexcept : sem_(s) { w_.needed = n; }
    Acquire(Acquire&& o) noexcept : sem_(o.sem_) {
      // Status rule (duet/sync/detail/wait_list.hpp).
      if (o.w_.status.load(std::memory_order_relaxed) != detail::st_idle) {
        detail::moved_while_linked();
      }
      w_.needed = o.w_.needed;
    }
    Acquire& operator=(Acquire&&) = delete;
    ~Acquire() {
      // Relaxed is enough to see our own queued/idle; a racing grant is
      // re-checked under the lock in cancel().
      if (w_.status.load(std::memory_order_relaxed) != detail::st_idle) sem_->cancel(w_);
    }

    Poll<void> poll(Context& cx) {
      switch (w_.load_status()) {
        case detail::st_done:
          // Status rule (duet/sync/detail/wait_list.hpp).
          w_.status.store(detail::st_idle, std::memory_order_relaxed);
          return ready();
        case detail::st_queued:
          return sem_->repoll(w_, cx) ? ready() : Poll<void>(pending);
        default:
          break;
      }
      // Relaxed: a hint; take() (a CAS) decides, as in try_acquire().
      if (!sem_->contended_.load(std::memory_order_relaxed) && sem_->take(w_.needed)) {
        return ready();
      }
      return sem_->poll_slow(w_, cx) ? ready() : Poll<void>(pending);
    }

   private:
    Semaphore* sem_;
    Waiter w_;
  };

  /// Waits for `n` permits (n must not exceed max_permits).
  Acquire acquire(std::size_t n = 1) noexcept { return Acquire(this, n); }

  /// Returns `n` permits; wakes the waiters they satisfy, in FIFO order.
  void release(std::size_t n = 1) noexcept {
    permits_.fetch_add(n, std::memory_order_seq_cst);
    // Seq_cst load after the seq_cst add (Dekker with poll_slow's store of
    // contended_ then re-check of permits_): either we see the waiter, or
    // the waiter sees our permits.
    if (contended_.load(std::memory_order_seq_cst)) release_slow();
  }

  [[nodiscard]] std::size_t available_permits() const noexcept {
    // Relaxed: a snapshot for diagnostics.
    return permits_.load(std::memory_order_relaxed);
  }

 private:
  bool take(std::size_t n) noexcept {
    // Relaxed first read: the CAS validates it.
    std::size_t cur = permits_.load(std::memory_order_relaxed);
    while (cur >= n) {
      // Acquire on success: what the releaser did before release()
      // happens-before what we do with the permits (a mutex's data).
      if (permits_.compare_exchange_weak(cur, cur - n, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  bool poll_slow(Waiter& w, Context& cx);
  bool repoll(Waiter& w, Context& cx);
  void cancel(Waiter& w) noexcept;
  void release_slow() noexcept;
  /// Grants permits to waiters in FIFO order; collects their wakers
  /// (skipping `self`). Returns false when the batch filled up first.
  bool drain_locked(detail::WakeBatch& b, const Waiter* self) noexcept;

  std::atomic<std::size_t> permits_;
  std::atomic<bool> contended_{false};  // waiters_ is not empty
  detail::SpinLock lock_;
  detail::WaitList<Waiter> waiters_;
};

}  // namespace duet

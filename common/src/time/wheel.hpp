// wheel.hpp: a hierarchical timing wheel (one per worker, one fallback).
//
// Why a wheel: insert and cancel are O(1) (link/unlink in a slot list, set
// or clear one bit), which is what a million pending timers need, most of
// them cancelled before they fire (timeouts); a binary heap pays O(log n)
// for both and touches log n cache lines. Firing is amortised O(1) per
// timer plus one cascade per level it crosses.
//
// Layout: `levels` levels of 64 slots. A tick is 1024 ns. Level L's slots
// are 64^L ticks wide, so the wheel spans 64^9 ticks = 2^54 ticks, every
// deadline steady_clock can express. Each level has a 64-bit occupancy
// bitmap: the next expiration is a count-trailing-zeros per level.
//
//   level 0: slots of 1 tick     (1 us)      span 64 us
//   level 1: slots of 64 ticks   (65 us)     span 4.2 ms
//   level 2: slots of 4096 ticks (4.2 ms)    span 268 ms
//   level 3: ...                 (268 ms)    span 17 s
//   ...
//
// An entry sits at the level of the highest bit in which its deadline
// differs from `elapsed` (the wheel's current tick), in the slot given by
// its deadline's digit at that level. So entries at a lower level always
// expire before those at a higher one, and the earliest expiration is the
// first occupied slot at the lowest occupied level. When that slot's time
// comes, a level-0 slot fires; a higher slot is cascaded (its entries are
// re-inserted relative to the new `elapsed`, landing lower).
//
// Concurrency: the owner worker inserts and fires; any thread may cancel
// (a task cancelled on another worker, a fiber that migrated, a select
// resolved elsewhere). One spin lock per wheel serves both: uncontended it
// is a single locked exchange, cheaper than the alternative (a remote-cancel
// queue that the owner drains), which would also leave cancelled entries,
// and the wakers they hold, alive until the owner's next tick. Firing moves
// the wakers out under the lock and wakes them after releasing it.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "duet/sync/detail/spin_lock.hpp"
#include "duet/time/sleep.hpp"

namespace duet::detail {

class DUET_API TimerWheel {
 public:
  static constexpr unsigned levels = 9;
  static constexpr unsigned slot_bits = 6;
  static constexpr unsigned slots = 1u << slot_bits;

  explicit TimerWheel(std::uint64_t now_tick) noexcept;
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  /// Registers `e` (e.tick set) with waker `w`. False, and nothing
  /// registered, when the deadline is not after the wheel's current tick.
  bool insert(TimerEntry& e, const Waker& w);
  /// True once fired; otherwise refreshes the waker.
  bool repoll(TimerEntry& e, const Waker& w);
  /// Removes `e` if it is still registered.
  void cancel(TimerEntry& e) noexcept;
  /// Fires every entry due at `now_tick`; returns how many fired.
  std::size_t advance(std::uint64_t now_tick);
  /// The earliest pending deadline, in ticks.
  std::optional<std::uint64_t> next_deadline();
  /// Pending entries (a hint: read without the lock).
  [[nodiscard]] std::size_t size() const noexcept {
    // Relaxed: a hint; the owner (the only inserter) reads it to skip the
    // clock when nothing is pending.
    return count_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t elapsed() const noexcept { return elapsed_; }

  /// For the owner's maintenance: fire what is due now (reads the clock only
  /// when something is pending). Returns how many fired.
  std::size_t fire_due();
  /// For the owner's park: how long until the next deadline (nullopt: no
  /// timer pending; zero: one is due), at most max_park.
  std::optional<std::chrono::nanoseconds> park_timeout();

  /// The longest park_timeout(): a deadline further away (up to the end of
  /// steady_clock's range) is looked at again after it, so that a caller
  /// that adds the timeout to a clock reading (a condition variable's
  /// wait_for) cannot overflow; a wake-up an hour for such a timer is
  /// nothing. (Instant::max(), "never", is not armed at all: sleep.hpp.)
  static constexpr std::chrono::nanoseconds max_park = std::chrono::hours(1);

 private:
  struct Expiration {
    unsigned level;
    unsigned slot;
    std::uint64_t deadline;
  };
  std::optional<Expiration> next_expiration() const noexcept;
  void link(TimerEntry& e, std::uint64_t when) noexcept;
  void unlink(TimerEntry& e) noexcept;

  detail::SpinLock lock_;
  std::uint64_t elapsed_;
  std::uint64_t occupied_[levels] = {};
  TimerEntry* slot_[levels][slots] = {};
  std::atomic<std::size_t> count_{0};
};

DUET_API std::uint64_t now_tick() noexcept;

/// The calling worker's wheel, or null off every worker. Defined by the
/// scheduler, which owns the wheels (sched/current.cpp): time/ includes
/// nothing of sched/.
DUET_API TimerWheel* current_timers() noexcept;

}  // namespace duet::detail

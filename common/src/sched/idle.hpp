// idle.hpp: who is searching for work, who is parked.
//
// One atomic word counts workers that are unparked and workers that are
// searching (stealing). A wake-up is needed only when nobody is searching and
// somebody is parked: that check is lock-free (a fence and a load) and is all
// a busy runtime pays per spawn. The parked set is a bitmap of 64-bit words,
// so finding a sleeper is a count-trailing-zeros; it changes only under a
// mutex, together with the counters, so "last searcher parks" and "notifier
// wakes a sleeper" cannot miss each other.
//
// No lost wake-up, in one sentence: work is made visible before the notifier's
// seq_cst fence and the counters read after it; a worker publishes that it
// stops searching before it re-checks every queue (the last searcher does so
// under the rule in Worker::park); so either the notifier sees a searcher or
// a free slot to wake, or the searcher sees the work.
//
// The watcher. A task in a LIFO slot cannot be found by searching (the slot
// is its owner's until the owner is stuck), so one parked worker, the
// watcher, sleeps with a timeout (RuntimeConfig::lifo_steal_after) while
// some other worker is awake, and on each wake takes the task of a worker
// that has stayed inside one poll since the last look (Worker::park).
//   - The first worker to park with the role free takes it; a notifier
//     wakes any other sleeper first; a watcher that wakes by itself passes
//     the role to another sleeper and wakes it. So while anyone is parked,
//     a parked worker watches.
//   - With every other worker parked, nothing can get stuck: the watcher
//     sleeps without a timeout and raises `watcher_asleep_`. Any worker that
//     wakes passes through mu_ after that, so it reads the flag and, at its
//     first push into a LIFO slot, wakes the watcher (Scheduler::
//     wake_watcher), which then sleeps with the timeout again. A runtime
//     with nothing to do makes no timed wake-ups.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace duet::detail {

class DUET_API Idle {
 public:
  /// How many workers the runtime has (fixed at construction).
  [[nodiscard]] unsigned num_workers() const noexcept { return num_workers_; }
  /// `watch`: keep a watcher (at least two workers, and LIFO slots that
  /// thieves may take from).
  Idle(unsigned num_workers, bool watch);

  /// How a parked worker sleeps.
  enum class Watch : std::uint8_t {
    none,    // not the watcher: until woken
    timed,   // the watcher, with another worker awake: with the timeout
    asleep,  // the watcher, everyone else parked: until woken
  };

  /// After new work became visible: which parked worker to wake (it is then
  /// counted as unparked and searching), or -1 when none is needed.
  int worker_to_notify();
  /// May this worker start searching? At most half of the workers search.
  bool transition_worker_to_searching();
  /// A searching worker found work; true when it was the last searcher (it
  /// must then wake another, since more work may be waiting).
  bool transition_worker_from_searching();
  /// The worker goes to sleep; true when it was the last searcher.
  bool transition_worker_to_parked(unsigned worker, bool is_searching);
  /// Still listed as parked (a wake-up was spurious)?
  bool is_parked(unsigned worker);
  /// Unlists a parked worker that woke by itself (or at shutdown); true if
  /// it was parked. If it was the watcher, the role passes to another
  /// sleeper, returned in `next_watcher` (else -1): the caller wakes it so
  /// that it sleeps with the timeout from now on.
  bool unpark_worker_by_id(unsigned worker, int& next_watcher);
  /// Before each sleep of a parked worker: is it the watcher, and must it
  /// wake up on a timeout?
  Watch watch_mode(unsigned worker);
  /// The push path's check: does the watcher sleep without a timeout?
  [[nodiscard]] bool watcher_asleep() const noexcept {
    // Relaxed: the flag is raised under mu_ while every other worker is
    // parked; a worker reads it only after it left its own park through
    // mu_, which orders the raise before this read.
    return watcher_asleep_.load(std::memory_order_relaxed);
  }
  /// If the watcher sleeps without a timeout: lowers the flag and returns
  /// the watcher to wake (else -1).
  int take_asleep_watcher();

  /// Workers not parked (the test clock's "everyone is idle" check).
  [[nodiscard]] unsigned num_unparked() const noexcept {
    return state_.load(std::memory_order_seq_cst) >> unpark_shift;
  }
  [[nodiscard]] unsigned num_searching() const noexcept {
    return state_.load(std::memory_order_seq_cst) & mask;
  }

 private:
  static constexpr std::uint32_t unpark_shift = 16;
  static constexpr std::uint32_t mask = (1u << unpark_shift) - 1;
  /// A sleeper to wake (unlisted, under mu_): any but the watcher, which
  /// is taken only when it sleeps alone (and then gives up the role).
  int pick_sleeper();
  /// The lowest listed sleeper other than `except`, or -1 (under mu_).
  int first_sleeper_except(int except) const noexcept;
  void unlist(unsigned worker) noexcept {
    sleepers_[worker / 64] &= ~(std::uint64_t{1} << (worker % 64));
  }
  /// The watcher leaves its park: the role and the flag go (under mu_).
  void vacate_watch() noexcept {
    watcher_ = -1;
    // Relaxed: under mu_, like the raise.
    watcher_asleep_.store(false, std::memory_order_relaxed);
  }
  bool notify_should_wakeup() const noexcept {
    auto s = state_.load(std::memory_order_seq_cst);
    return (s & mask) == 0 && (s >> unpark_shift) < num_workers_;
  }

  std::atomic<std::uint32_t> state_;
  const unsigned num_workers_;
  std::mutex mu_;
  std::vector<std::uint64_t> sleepers_;  // guarded by mu_
  const bool watch_;
  int watcher_ = -1;  // guarded by mu_; always a listed sleeper, or -1
  // Own line: read on every push into an empty LIFO slot, written rarely,
  // and state_ changes on every park and search.
  alignas(64) std::atomic<bool> watcher_asleep_{false};
};

}  // namespace duet::detail

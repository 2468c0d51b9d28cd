// duet/detail/task/state.hpp: the task's state word and every transition of
// it. Nothing else in duet reads or writes the word: the scheduler, the
// workers, the join handle, the blocking pool and the three task kinds reach
// the named transitions below only through the harness (task/harness.hpp;
// tests/support/check_state_callers.py checks it).
//
// The word (64 bits):
//
//     bit 0  NOTIFIED       in a run queue, or must be put in one
//     bit 1  RUNNING        a worker (or the shutdown thread, or a dump that
//                           reads a parked task's frames) owns it now
//     bit 2  COMPLETE       outcome stored; never runs again
//     bit 3  CANCELLED      cancellation requested
//     bit 4  JOIN_INTEREST  a JoinHandle exists
//     bit 5  JOIN_WAKER     the join waker is set; the task side owns it
//     bit 6  LISTED         in OwnedTasks (which holds a reference)
//     bit 7  PINNED         runs only on its home worker (set at spawn, never
//                           changed: a wake of it says submit_pinned)
//     8-23   home           the pinned task's worker index
//     24-63  references     queue, handle, each Waker clone, the list
//
// Invariants (checked by each transition when checks are on):
//  - RUNNING and COMPLETE are never both set; once COMPLETE, NOTIFIED,
//    RUNNING and LISTED are never set again by a wake or a cancel.
//  - NOTIFIED without RUNNING means exactly one queue holds the task, and
//    that queue holds a reference.
//  - JOIN_WAKER implies JOIN_INTEREST. While JOIN_WAKER is set only the
//    task side reads the join waker; while it is clear only the handle
//    writes it. COMPLETE freezes it: whoever sees COMPLETE may read it.
//  - The reference count never underflows, and at 2^39 the process
//    aborts (an overflow would free a live task).
//  - PINNED and the home are written once, before the task is published
//    (pin_at_spawn), and no transition changes them.
//
// The class is a template over its atomic (std::atomic in duet; an
// instrumented one in tests/support/explorer.hpp, which runs every
// interleaving of two or three threads' transitions) and over its checks.
// Checks on (DUET_CHECK_TRANSITIONS, on in Debug and sanitizer builds): each
// transition tests its precondition on the value it replaced and aborts
// with the transition's name and the word. Off: only the reference
// overflow check remains (one compare on a value the RMW returns anyway).
//
// Cost: a transition is one locked RMW (a yield makes none: it holds its
// run, resume_held; and where the references prove that no other thread
// can reach the word, a plain store or nothing: to_running_joined,
// to_complete_joined, a handle dropped with the last reference). Those that decide from the current
// value (wakes, idle, yield, cancel, join) are a CAS loop that succeeds at
// its first try unless another thread raced it; the runner's to_running,
// to_complete and the releases are a single fetch-op.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <cstdint>
#include <optional>

#include "duet/detail/check_mode.hpp"
// (the abi tag reads the check mode)
#include "duet/detail/abi_tag.hpp"

namespace duet::detail {

/// A copy of the state word, with named predicates.
class TaskSnapshot {
 public:
  static constexpr std::uint64_t notified = 1;
  static constexpr std::uint64_t running = 2;
  static constexpr std::uint64_t complete = 4;
  static constexpr std::uint64_t cancelled = 8;
  static constexpr std::uint64_t join_interest = 16;
  static constexpr std::uint64_t join_waker = 32;
  static constexpr std::uint64_t listed = 64;
  static constexpr std::uint64_t pinned = 128;
  static constexpr unsigned home_shift = 8;
  static constexpr unsigned home_bits = 16;
  static constexpr std::uint64_t home_mask = ((std::uint64_t{1} << home_bits) - 1) << home_shift;
  static constexpr std::uint64_t ref_one = std::uint64_t{1} << (home_shift + home_bits);
  static constexpr std::uint64_t flag_mask = ref_one - 1;  // flags, PINNED and home
  /// The count at which ref() aborts instead of wrapping.
  static constexpr std::uint64_t max_refs = std::uint64_t{1} << 39;
  /// Workers a pinned task can name as its home.
  static constexpr unsigned max_home = (1u << home_bits) - 1;

  constexpr TaskSnapshot() = default;
  constexpr explicit TaskSnapshot(std::uint64_t bits) noexcept : bits_(bits) {}

  [[nodiscard]] constexpr bool is_notified() const noexcept { return (bits_ & notified) != 0; }
  [[nodiscard]] constexpr bool is_running() const noexcept { return (bits_ & running) != 0; }
  [[nodiscard]] constexpr bool is_complete() const noexcept { return (bits_ & complete) != 0; }
  [[nodiscard]] constexpr bool is_cancelled() const noexcept { return (bits_ & cancelled) != 0; }
  [[nodiscard]] constexpr bool has_join_interest() const noexcept {
    return (bits_ & join_interest) != 0;
  }
  [[nodiscard]] constexpr bool has_join_waker() const noexcept { return (bits_ & join_waker) != 0; }
  [[nodiscard]] constexpr bool is_listed() const noexcept { return (bits_ & listed) != 0; }
  [[nodiscard]] constexpr bool is_pinned() const noexcept { return (bits_ & pinned) != 0; }
  /// A pinned task's worker index (meaningless unless is_pinned()).
  [[nodiscard]] constexpr unsigned home() const noexcept {
    return static_cast<unsigned>((bits_ & home_mask) >> home_shift);
  }
  /// Parked: neither queued, running nor complete (a waker will queue it).
  [[nodiscard]] constexpr bool is_idle() const noexcept {
    return (bits_ & (notified | running | complete)) == 0;
  }
  [[nodiscard]] constexpr std::uint64_t refs() const noexcept { return bits_ / ref_one; }
  [[nodiscard]] constexpr std::uint64_t bits() const noexcept { return bits_; }

 private:
  std::uint64_t bits_ = 0;
};

/// What a wake or a cancel decided; the caller carries it out.
enum class WakeAction : std::uint8_t {
  none,           // nothing to do (already queued, running or complete)
  submit,         // queue the task: the queue reference is taken
  submit_pinned,  // the same, on its home worker only (PINNED)
  destroy,        // that was the last reference: free the task
};

/// What the handle found when it gave up its interest.
struct JoinDrop {
  bool complete;        // the task had completed: the outcome is the handle's to drop
  bool kept_reference;  // a published join waker is the handle's again: clear it, then unref
  bool last_reference;  // complete, and the handle's reference is the only one left
};

/// duet's checks: a broken precondition or a reference overflow prints the
/// transition and the word, then aborts.
struct DUET_API AbortingTransitionChecks {
  static constexpr bool enabled = DUET_CHECK_TRANSITIONS != 0;
  static constexpr bool nothrow = true;
  [[noreturn]] static void violated(const char* transition, const char* needs,
                                    std::uint64_t bits) noexcept;
  [[noreturn]] static void overflow(std::uint64_t bits) noexcept;
};

template <class Word, class Checks = AbortingTransitionChecks>
class BasicTaskState {
  using S = TaskSnapshot;
  static constexpr bool nothrow = Checks::nothrow;

 public:
  /// A spawned task: its first run is queued and one handle joins it. Two
  /// references: the queue's and the handle's.
  static constexpr std::uint64_t spawned = S::notified | S::join_interest | 2 * S::ref_one;

  constexpr explicit BasicTaskState(std::uint64_t initial = spawned) noexcept : word_(initial) {}
  BasicTaskState(const BasicTaskState&) = delete;
  BasicTaskState& operator=(const BasicTaskState&) = delete;

  [[nodiscard]] S load(std::memory_order o = std::memory_order_acquire) const noexcept {
    return S(word_.load(o));
  }

  // ---- references ---------------------------------------------------------

  void ref() noexcept(nothrow) {
    // Relaxed: the caller already holds a reference, so the task is alive;
    // the increment orders nothing (as shared_ptr's copy).
    S prev(word_.fetch_add(S::ref_one, std::memory_order_relaxed));
    if (prev.refs() >= S::max_refs) Checks::overflow(prev.bits());
  }
  /// Drops `n` references. True when they were the last: free the task.
  [[nodiscard]] bool unref(std::uint64_t n = 1) noexcept(nothrow) {
    // AcqRel: release this owner's writes to the task; the last owner
    // acquires everyone's before it frees it.
    S prev(word_.fetch_sub(n * S::ref_one, std::memory_order_acq_rel));
    check(prev.refs() >= n, "unref", "that many references", prev);
    return prev.refs() == n;
  }

  /// A spawned task not published yet (RuntimeConfig::list_all_tasks: the
  /// spawner lists it before its first queue push): LISTED, with the list's
  /// reference.
  void to_listed_at_spawn() noexcept(nothrow) {
    // Relaxed load and store: no other thread can reach the word before the
    // queue push that publishes the task, and that push (a release) carries
    // this store with it.
    S prev(word_.load(std::memory_order_relaxed));
    check(prev.is_notified() && !prev.is_running() && !prev.is_complete() && !prev.is_listed(),
          "to_listed_at_spawn", "NOTIFIED, not RUNNING, not COMPLETE, not LISTED", prev);
    word_.store((prev.bits() | S::listed) + S::ref_one, std::memory_order_relaxed);
  }

  /// A spawned task not published yet, pinned to worker `home`: PINNED and
  /// the home, for the rest of its life.
  void pin_at_spawn(unsigned home) noexcept(nothrow) {
    // Relaxed load and store, as in to_listed_at_spawn: the task is the
    // spawner's alone until the push that publishes it.
    S prev(word_.load(std::memory_order_relaxed));
    check(prev.is_notified() && !prev.is_running() && !prev.is_complete() && !prev.is_pinned() &&
              home <= S::max_home,
          "pin_at_spawn", "NOTIFIED, not RUNNING, not COMPLETE, not PINNED, a home in range", prev);
    word_.store(prev.bits() | S::pinned | (std::uint64_t{home} << S::home_shift),
                std::memory_order_relaxed);
  }

  // ---- wakes and cancellation (any thread) --------------------------------

  /// A wake that consumes the caller's reference.
  [[nodiscard]] WakeAction wake_by_val() noexcept(nothrow) {
    S prev = update([](S s) -> std::optional<std::uint64_t> {
      if (s.is_running()) return (s.bits() | S::notified) - S::ref_one;  // the runner requeues
      if (s.is_complete() || s.is_notified()) return s.bits() - S::ref_one;
      return s.bits() | S::notified;  // the caller's reference becomes the queue's
    });
    check(prev.refs() >= 1, "wake_by_val", "a reference", prev);
    if (prev.is_running()) return WakeAction::none;
    if (prev.is_complete() || prev.is_notified()) {
      return prev.refs() == 1 ? WakeAction::destroy : WakeAction::none;
    }
    return submit_for(prev);
  }

  /// A wake that keeps the caller's reference (takes one for the queue).
  [[nodiscard]] WakeAction wake_by_ref() noexcept(nothrow) {
    S prev = update([](S s) -> std::optional<std::uint64_t> {
      if (s.is_complete() || s.is_notified()) return std::nullopt;
      if (s.is_running()) return s.bits() | S::notified;
      return (s.bits() | S::notified) + S::ref_one;
    });
    check(prev.refs() >= 1, "wake_by_ref", "a reference", prev);
    return prev.is_idle() ? submit_for(prev) : WakeAction::none;
  }

  /// Requests cancellation: a running task is requeued and cancelled when
  /// popped; a queued one is cancelled when popped; a parked one is queued.
  [[nodiscard]] WakeAction cancel() noexcept(nothrow) {
    S prev = update([](S s) -> std::optional<std::uint64_t> {
      if (s.is_complete() || s.is_cancelled()) return std::nullopt;
      if (s.is_running()) return s.bits() | S::cancelled | S::notified;
      if (s.is_notified()) return s.bits() | S::cancelled;
      return (s.bits() | S::cancelled | S::notified) + S::ref_one;
    });
    if (prev.is_complete() || prev.is_cancelled()) return WakeAction::none;
    return prev.is_idle() ? submit_for(prev) : WakeAction::none;
  }

  // ---- the runner (the worker that popped it) -----------------------------

  /// Popped from a queue: NOTIFIED -> RUNNING. Returns the word before.
  S to_running() noexcept(nothrow) {
    // Acquire: see what the previous run and the waker published. An add:
    // with NOTIFIED set and RUNNING clear (the precondition) it flips both,
    // as an xor would, but x86 does it in one `lock xadd`; an xor whose old
    // value is used is a load and a `lock cmpxchg` loop.
    S prev(word_.fetch_add(S::running - S::notified, std::memory_order_acquire));
    check(prev.is_notified() && !prev.is_running() && !prev.is_complete(), "to_running",
          "NOTIFIED, not RUNNING, not COMPLETE", prev);
    return prev;
  }

  /// to_running for the join hand-off (Worker::run_child_inline): the
  /// caller took the task from its own LIFO slot and is inside the poll of
  /// its handle, on this thread. When the word is exactly `spawned` (no
  /// waker clone, not listed, no join waker, not cancelled), its two
  /// references are that queue entry and that handle: no other thread can
  /// reach the word, so a plain store does what to_running's locked add
  /// does (a spawn+join's first locked instruction). Otherwise to_running().
  S to_running_joined() noexcept(nothrow) {
    // Acquire, as in to_running (a plain load on x86).
    S prev(word_.load(std::memory_order_acquire));
    if (prev.bits() != spawned) return to_running();
    // Relaxed: no other thread reads the word before something this thread
    // does later publishes the task again (a waker clone handed over, a
    // queue push), and those publish this store with them.
    word_.store(spawned - S::notified + S::running, std::memory_order_relaxed);
    return prev;
  }

  /// The shutdown thread takes a task it will cancel without running it:
  /// RUNNING set, so that wakes during the cancellation do not queue it.
  S to_running_for_cancel() noexcept(nothrow) {
    // AcqRel: acquire what the task's last run and its wakers published (the
    // cancellation runs its destructors next); the release half orders
    // nothing this thread needs, and a locked RMW costs the same either way.
    S prev(word_.fetch_or(S::running, std::memory_order_acq_rel));
    check(!prev.is_running() && !prev.is_complete(), "to_running_for_cancel",
          "not RUNNING, not COMPLETE", prev);
    return prev;
  }

  /// A dump holds a parked task to read its frames (dump_tasks' async
  /// backtrace): idle -> RUNNING, with one reference for the hold, so that
  /// no worker runs it (a wake meanwhile only sets NOTIFIED) and nothing
  /// frees it. False, and no change, when it is not parked. The hold ends
  /// with to_idle(false), which keeps the reference for the queue when the
  /// task was woken or cancelled meanwhile, as after a run.
  [[nodiscard]] bool to_running_for_inspection() noexcept(nothrow) {
    // AcqRel (in update's CAS): acquire what the last run wrote to the
    // frames; nothing of the inspector's is published by it.
    S prev = update([](S s) -> std::optional<std::uint64_t> {
      if (!s.is_idle()) return std::nullopt;
      return (s.bits() | S::running) + S::ref_one;
    });
    if (!prev.is_idle()) return false;
    check(prev.refs() >= 1, "to_running_for_inspection", "a reference", prev);
    if (prev.refs() >= S::max_refs) Checks::overflow(prev.bits());
    return true;
  }

  /// After a run that returned pending: RUNNING cleared. True when it was
  /// woken or cancelled meanwhile and must be queued again (the queue
  /// reference is kept); else the queue reference is dropped (never the
  /// last: the list holds one). `list`: the caller just put it in
  /// OwnedTasks; LISTED and the list's reference are set in the same step.
  [[nodiscard]] bool to_idle(bool list) noexcept(nothrow) {
    S prev = update([list](S s) -> std::optional<std::uint64_t> {
      std::uint64_t next = s.bits() & ~S::running;
      if (list) next = (next | S::listed) + S::ref_one;
      if (!s.is_notified()) next -= S::ref_one;
      return next;
    });
    check(prev.is_running() && !prev.is_complete() && (prev.is_listed() != list) &&
              (prev.is_notified() || prev.refs() >= 2 || list),
          "to_idle",
          "RUNNING, not COMPLETE, LISTED iff not listing now, a reference beyond the queue's",
          prev);
    return prev.is_notified();
  }

  /// A yield holds its run (common/src/sched/held_run.hpp): the task goes
  /// to the back of a ring still RUNNING, with no transition, and whoever
  /// takes it from there resumes the run: it only reads the word, for
  /// CANCELLED. Relaxed: the ring's hand-over (its release push, the taker's
  /// acquire pop or steal) orders the last run's writes before this read,
  /// and RUNNING cannot change while the run is held; a cancel that this
  /// read misses set NOTIFIED too, so the task's next transition finds it.
  [[nodiscard]] S resume_held() const noexcept(nothrow) {
    S s(word_.load(std::memory_order_relaxed));
    check(s.is_running() && !s.is_complete(), "resume_held", "RUNNING, not COMPLETE", s);
    return s;
  }

  /// A held run given up (its ring entry went to the injector, whose
  /// consumers start runs with to_running): RUNNING -> NOTIFIED, queue
  /// reference kept.
  void to_yielded() noexcept(nothrow) {
    S prev = update(
        [](S s) -> std::optional<std::uint64_t> { return (s.bits() & ~S::running) | S::notified; });
    check(prev.is_running() && !prev.is_complete(), "to_yielded", "RUNNING, not COMPLETE", prev);
  }

  /// After the run that finished it: RUNNING -> COMPLETE. Returns the word
  /// before (the publisher reads JOIN_INTEREST and JOIN_WAKER from it).
  S to_complete() noexcept(nothrow) {
    // AcqRel: release the outcome to the joiner; acquire the join waker the
    // handle published (its release CAS set JOIN_WAKER).
    // An add, as in to_running (RUNNING set, COMPLETE clear: it flips both).
    S prev(word_.fetch_add(S::complete - S::running, std::memory_order_acq_rel));
    check(prev.is_running() && !prev.is_complete(), "to_complete", "RUNNING, not COMPLETE", prev);
    return prev;
  }

  /// RUNNING -> COMPLETE for a task that is not LISTED, dropping the run's
  /// (the queue's) reference in the same step when nothing is left for the
  /// completer to do: a handle exists (it will take the outcome) and has
  /// published no waker (nobody to wake). Then the handle's reference keeps
  /// the task alive, the completer must not touch it again, and a
  /// spawn+join whose child ran inline pays one locked instruction here, not
  /// two. Otherwise it is to_complete() and the caller releases afterwards
  /// (release_after_completion(false)). Returns the word before and whether
  /// the reference went.
  struct Completed {
    S prev;
    bool released;
  };
  [[nodiscard]] Completed to_complete_releasing() noexcept(nothrow) {
    bool released = false;
    // AcqRel (in update's CAS): as to_complete(), and as unref() for the
    // reference it drops.
    S prev = update([&](S s) -> std::optional<std::uint64_t> {
      released = s.has_join_interest() && !s.has_join_waker();
      const std::uint64_t next = s.bits() ^ (S::running | S::complete);
      return released ? next - S::ref_one : next;
    });
    check(prev.is_running() && !prev.is_complete() && !prev.is_listed() &&
              (!released || prev.refs() >= 2),
          "to_complete_releasing", "RUNNING, not COMPLETE, not LISTED, the handle's reference",
          prev);
    return {prev, released};
  }

  /// to_complete_releasing for a task run by the join hand-off, inside the
  /// poll of its handle on this thread (Worker::run_child_inline). When the
  /// word is exactly RUNNING | JOIN_INTEREST with two references (the run's
  /// and that handle's: no waker clone outlived the run, no join waker, not
  /// listed, not woken or cancelled), no other thread can reach it: a plain
  /// store completes it and drops the run's reference, and the handle, next
  /// on this thread, reads the outcome. Otherwise to_complete_releasing().
  [[nodiscard]] Completed to_complete_joined() noexcept(nothrow) {
    constexpr std::uint64_t alone = S::running | S::join_interest | 2 * S::ref_one;
    // Acquire: as the RMW's, for a waker clone dropped on another thread.
    S prev(word_.load(std::memory_order_acquire));
    if (prev.bits() != alone) return to_complete_releasing();
    // Release: the outcome before the word, for whoever reads the word
    // after the handle hands the task on (a dump, a later drop).
    word_.store(S::complete | S::join_interest | S::ref_one, std::memory_order_release);
    return {prev, true};
  }

  /// After completion, on the thread that completed it: drops the run's
  /// references (the queue's, and the list's when listed; the caller has
  /// unlisted it). True when they were the last.
  [[nodiscard]] bool release_after_completion(bool was_listed) noexcept(nothrow) {
    std::uint64_t n = was_listed ? 2 : 1;
    std::uint64_t clear = was_listed ? S::listed : 0;
    // AcqRel: as unref().
    S prev(word_.fetch_sub(clear + n * S::ref_one, std::memory_order_acq_rel));
    check(prev.is_complete() && prev.is_listed() == was_listed && prev.refs() >= n,
          "release_after_completion", "COMPLETE, LISTED as told, the run's references", prev);
    return prev.refs() == n;
  }

  // ---- the join handle ----------------------------------------------------

  /// Publishes the join waker the handle just wrote: JOIN_WAKER set. False
  /// when the task completed first (the handle still owns the waker).
  [[nodiscard]] bool set_join_waker() noexcept(nothrow) {
    // Release (in the AcqRel CAS): the waker write happens-before the task
    // side's read of it after it sees the bit.
    S prev = update([](S s) -> std::optional<std::uint64_t> {
      if (s.is_complete()) return std::nullopt;
      return s.bits() | S::join_waker;
    });
    check(prev.has_join_interest() && !prev.has_join_waker(), "set_join_waker",
          "JOIN_INTEREST, not JOIN_WAKER", prev);
    return !prev.is_complete();
  }

  /// Takes the join waker back so the handle can replace it: JOIN_WAKER
  /// cleared. False when the task completed first (it may be reading it).
  [[nodiscard]] bool unset_join_waker() noexcept(nothrow) {
    S prev = update([](S s) -> std::optional<std::uint64_t> {
      if (s.is_complete()) return std::nullopt;
      return s.bits() & ~S::join_waker;
    });
    check(prev.has_join_interest() && prev.has_join_waker(), "unset_join_waker",
          "JOIN_INTEREST and JOIN_WAKER", prev);
    return !prev.is_complete();
  }

  /// The handle is dropped. Not complete: JOIN_INTEREST and JOIN_WAKER are
  /// cleared (the task side will drop the outcome) and, with no join waker
  /// published, the handle's reference is dropped in the same step (never
  /// the last: the task is queued, running or listed). With a published
  /// waker the reference is kept (`kept_reference`): the handle clears the
  /// waker, then unrefs. Complete: nothing changes; the handle drops the
  /// outcome, then calls release_join_interest().
  [[nodiscard]] JoinDrop drop_join_interest() noexcept(nothrow) {
    S prev = update([](S s) -> std::optional<std::uint64_t> {
      if (s.is_complete()) return std::nullopt;
      std::uint64_t next = s.bits() & ~(S::join_interest | S::join_waker);
      return s.has_join_waker() ? next : next - S::ref_one;
    });
    check(prev.has_join_interest() && (prev.is_complete() || prev.refs() >= 2),
          "drop_join_interest", "JOIN_INTEREST, a reference beyond the handle's", prev);
    return JoinDrop{prev.is_complete(), !prev.is_complete() && prev.has_join_waker(),
                    prev.is_complete() && prev.refs() == 1};
  }

  /// After drop_join_interest found the task complete and the handle
  /// dropped its outcome: JOIN_INTEREST cleared, the handle's reference
  /// dropped. True when it was the last. (Not called when drop_join_interest
  /// saw the handle's reference alone: nobody else can reach the task then,
  /// and the handle frees it with no locked instruction.)
  [[nodiscard]] bool release_join_interest() noexcept(nothrow) {
    // AcqRel: as unref().
    S prev(word_.fetch_sub(S::join_interest + S::ref_one, std::memory_order_acq_rel));
    check(prev.is_complete() && prev.has_join_interest() && prev.refs() >= 1,
          "release_join_interest", "COMPLETE, JOIN_INTEREST", prev);
    return prev.refs() == 1;
  }

 private:
  /// A wake that queues the task: on any worker, or its home's (PINNED).
  static constexpr WakeAction submit_for(S prev) noexcept {
    return prev.is_pinned() ? WakeAction::submit_pinned : WakeAction::submit;
  }

  /// The one CAS loop: `next_of(current)` returns the new word, or nullopt
  /// to leave it. Returns the word the decision was made on.
  template <class F>
  S update(F&& next_of) noexcept(nothrow) {
    std::uint64_t cur = word_.load(std::memory_order_acquire);
    for (;;) {
      std::optional<std::uint64_t> next = next_of(S(cur));
      if (!next) return S(cur);
      // AcqRel on success: each transition publishes the caller's writes
      // and must see the writes of whoever set the bits it read. Acquire on
      // failure: the reloaded value is decided on in the next round.
      if (word_.compare_exchange_weak(cur, *next, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        return S(cur);
      }
    }
  }

  static void check(bool ok, const char* transition, const char* needs, S s) noexcept(nothrow) {
    if constexpr (Checks::enabled) {
      if (!ok) Checks::violated(transition, needs, s.bits());
    }
  }

  Word word_;
};

using TaskState = BasicTaskState<std::atomic<std::uint64_t>>;

}  // namespace duet::detail

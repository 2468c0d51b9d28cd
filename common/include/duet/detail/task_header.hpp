// duet/detail/task_header.hpp: the task header that both backends share.
//
// The scheduler moves TaskHeader pointers between queues without knowing
// which kind of task it holds; everything kind-specific goes through the
// vtable. Layout (64 bytes, one cache line; hot fields first):
//
//     0  state      atomic u64   flags (low 6 bits) | reference count (rest)
//     8  next       TaskHeader*  intrusive link: injector, shutdown lists
//    16  vtable     TaskVTable*  run / cancel / destroy / outcome / block
//    24  owned_prev TaskHeader*  OwnedTasks shard list (tasks that parked)
//    32  owned_next TaskHeader*
//    40  join_waker Waker        the joiner's waker (16 B), see JOIN_WAKER
//    56  sched      Scheduler*   the runtime that runs it
//
// The task's kind (stackless, poll future, fiber) is in its vtable; its
// OwnedTasks shard is derived from its address.
//
// Reference counting: the run queues hold one reference while a task is
// scheduled (NOTIFIED) or running; the JoinHandle holds one; every Waker
// clone holds one; the OwnedTasks list holds one while the task is LISTED.
//
// A task is listed in OwnedTasks (so that shutdown can find it) the first
// time it parks, and unlisted when it completes. A task that finishes in its
// first run, the common case for small children, never touches the list:
// while queued or running it is reachable through the queues and workers.
#pragma once

#include <atomic>
#include <cstdint>

#include "duet/waker.hpp"

namespace duet::detail {

struct TaskHeader;
class Scheduler;

/// What one run of a task ended in.
enum class RunResult : std::uint8_t {
  pending,   // waiting on something that holds its waker
  yielded,   // wants to run again, after the others
  complete,  // finished: outcome stored, future destroyed
};

enum class TaskKind : std::uint8_t { stackless, poll, stackful };

struct TaskVTable {
  TaskKind kind;
  /// Polls / resumes the task once on the calling worker.
  RunResult (*run)(TaskHeader*);
  /// Destroys the task's future without finishing it (coroutine frames are
  /// destroyed, fiber stacks unwound) and stores `Cancelled` as its outcome.
  void (*cancel)(TaskHeader*);
  /// Frees the task's memory: the last reference is gone.
  void (*destroy)(TaskHeader*);
  /// Address of the task's `Outcome<T>`.
  void* (*outcome)(TaskHeader*);
  /// Drops the stored outcome (nobody will join).
  void (*drop_outcome)(TaskHeader*);
  /// Suspends the calling task until woken. Only fibers can; null otherwise.
  void (*block)(TaskHeader*);
  /// True when the task's stack is moved out while it is suspended (a copy
  /// fiber): an operation it waits on must then not live on that stack, so
  /// duet::wait moves an rvalue operation to the heap first. Null: never.
  bool (*shared_stack)(const TaskHeader*) = nullptr;
};

namespace state {
inline constexpr std::uint64_t notified = 1;        // in a run queue (or must be put in one)
inline constexpr std::uint64_t running = 2;         // a worker owns it right now
inline constexpr std::uint64_t complete = 4;        // outcome stored; never runs again
inline constexpr std::uint64_t cancelled = 8;       // cancellation requested
inline constexpr std::uint64_t join_interest = 16;  // a JoinHandle exists
inline constexpr std::uint64_t join_waker = 32;     // join_waker is set and owned by the task side
inline constexpr std::uint64_t listed = 64;         // in OwnedTasks (holds a reference)
inline constexpr std::uint64_t ref_one = 128;
inline constexpr std::uint64_t flag_mask = ref_one - 1;
inline constexpr std::uint64_t refs(std::uint64_t s) {
  return s / ref_one;
}
}  // namespace state

/// What a wake decided.
enum class WakeAction : std::uint8_t { none, submit, destroy };

struct alignas(64) TaskHeader {
  std::atomic<std::uint64_t> state_;
  TaskHeader* next = nullptr;
  const TaskVTable* vtable;
  TaskHeader* owned_prev = nullptr;
  TaskHeader* owned_next = nullptr;
  Waker join_waker;
  Scheduler* sched = nullptr;

  /// A new task: scheduled (its first run is queued) and joined by one
  /// handle. Two references: queue, handle.
  explicit TaskHeader(const TaskVTable* vt) noexcept
      : state_(state::notified | state::join_interest | 2 * state::ref_one), vtable(vt) {}

  // ---- reference counting ---------------------------------------------
  void ref() noexcept {
    // Relaxed: the caller already holds a reference, so the task is alive;
    // the increment needs no ordering with other memory (as shared_ptr).
    state_.fetch_add(state::ref_one, std::memory_order_relaxed);
  }
  /// Drops `n` references; destroys the task when they were the last.
  void unref(std::uint64_t n = 1) noexcept {
    // AcqRel: release our writes to the task, and acquire everyone else's
    // before the last owner destroys it.
    auto prev = state_.fetch_sub(n * state::ref_one, std::memory_order_acq_rel);
    if (state::refs(prev) == n) vtable->destroy(this);
  }

  /// Clears `flags` (which must be set) and drops one reference in one step.
  void unref_with(std::uint64_t flags) noexcept {
    // AcqRel: as unref().
    auto prev = state_.fetch_sub(flags + state::ref_one, std::memory_order_acq_rel);
    if (state::refs(prev) == 1) vtable->destroy(this);
  }

  // ---- wakes ------------------------------------------------------------
  /// Wake that consumes the caller's reference.
  WakeAction transition_wake_by_val() noexcept;
  /// Wake that keeps the caller's reference (takes a new one if it submits).
  WakeAction transition_wake_by_ref() noexcept;

  // ---- worker side ------------------------------------------------------
  /// Popped from a queue: NOTIFIED -> RUNNING. Returns the previous state.
  std::uint64_t transition_to_running() noexcept {
    // Acquire: see everything the previous run and the waker published.
    return state_.fetch_xor(state::notified | state::running, std::memory_order_acquire);
  }
  /// After a pending run. True when the task must be queued again (it was
  /// woken or cancelled while running; the queue reference is kept).
  /// `list`: the caller just inserted it in OwnedTasks; set LISTED and take
  /// the list's reference in the same step.
  bool transition_to_idle(bool list) noexcept;
  /// After a yielding run: RUNNING -> NOTIFIED, queue reference kept.
  void transition_to_yielded() noexcept;
  /// After the run that finished the task; returns the previous state.
  std::uint64_t transition_to_complete() noexcept {
    // AcqRel: release the outcome to the joiner; acquire the join waker.
    return state_.fetch_xor(state::running | state::complete, std::memory_order_acq_rel);
  }

  // ---- handle side ------------------------------------------------------
  /// Requests cancellation. Returns the action for the caller to carry out.
  WakeAction transition_cancel() noexcept;

  [[nodiscard]] std::uint64_t load(std::memory_order o = std::memory_order_acquire) const noexcept {
    return state_.load(o);
  }
};

static_assert(sizeof(TaskHeader) == 64, "the task header is one cache line");

/// The waker vtable for tasks; defined in task_header.cpp.
extern const WakerVTable task_waker_vtable;

/// A borrowed waker for `t` (no reference taken): for a Context on the stack.
/// Do not let it escape without copying it (copying clones).
class BorrowedWaker {
 public:
  explicit BorrowedWaker(TaskHeader* t) noexcept : w_(Waker::adopt(t, &task_waker_vtable)) {}
  ~BorrowedWaker() { std::move(w_).release(); }
  BorrowedWaker(const BorrowedWaker&) = delete;
  BorrowedWaker& operator=(const BorrowedWaker&) = delete;
  [[nodiscard]] const Waker& get() const noexcept { return w_; }

 private:
  Waker w_;
};

}  // namespace duet::detail

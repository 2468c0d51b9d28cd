// duet/detail/task_header.hpp: the task header that both backends share.
//
// The scheduler moves TaskHeader pointers between queues without knowing
// which kind of task it holds; everything kind-specific goes through the
// vtable. Layout (64 bytes, one cache line; hot fields first):
//
//     0  state      TaskState    flags (low 7 bits) | reference count (rest)
//     8  next       TaskHeader*  intrusive link: injector, blocking pool; while
//                                parked, where and when it last ran (ParkStamp);
//                                while in a ring or the LIFO slot, a sampled
//                                wake's stamp, top bit set
//                                (common/src/sched/run_sampler.hpp)
//    16  vtable     TaskVTable*  kind, run, cancel, destroy, outcome, drop_outcome,
//                                stackful (a fiber's operations, stackful_ops.hpp),
//                                await_chain (a coroutine's, for dumps)
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

#include "duet/export.hpp"
#include "duet/task_kind.hpp"

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "duet/detail/stackful_ops.hpp"
#include "duet/detail/task/state.hpp"
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

using duet::TaskKind;

/// A parked coroutine task's chain of awaits, for dump_tasks' async
/// backtrace: code addresses, which the dump names. The leaf (the coroutine
/// that suspended) first, then each coroutine awaiting the one before, up
/// to the spawned root.
struct AwaitChain {
  static constexpr std::size_t max_frames = 64;
  /// What the leaf waits in: its awaiter's re-poll function, whose name
  /// names the future (null: it waits in none, as after a yield).
  const void* waits_in = nullptr;
  const void* frames[max_frames] = {};  // each coroutine's resume function
  std::size_t depth = 0;                // frames filled
  bool truncated = false;               // the chain goes on past max_frames
};

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
  /// A fiber's operations (duet/detail/stackful_ops.hpp); null for every
  /// other kind of task.
  const StackfulOps* stackful = nullptr;
  /// Fills the chain of awaits of a coroutine task; null for the other
  /// kinds. Called only on a task that a dump holds (harness.hpp,
  /// hold_parked), so that no run changes the frames under it.
  void (*await_chain)(TaskHeader*, AwaitChain&) = nullptr;
};

struct alignas(64) TaskHeader {
  /// The state word: flags and references (detail/task/state.hpp). Only
  /// its transitions touch it; the harness (common/src/task/) calls them.
  TaskState state;
  TaskHeader* next = nullptr;
  const TaskVTable* vtable;
  TaskHeader* owned_prev = nullptr;
  TaskHeader* owned_next = nullptr;
  Waker join_waker;
  Scheduler* sched = nullptr;

  /// A new task: scheduled (its first run is queued) and joined by one
  /// handle. Two references: queue, handle.
  explicit TaskHeader(const TaskVTable* vt) noexcept : vtable(vt) {}

  void ref() noexcept { state.ref(); }
  /// Drops `n` references; frees the task when they were the last.
  void unref(std::uint64_t n = 1) noexcept {
    if (state.unref(n)) vtable->destroy(this);
  }
  [[nodiscard]] TaskSnapshot load(std::memory_order o = std::memory_order_acquire) const noexcept {
    return state.load(o);
  }
};

static_assert(sizeof(TaskHeader) == 64, "the task header is one cache line");

/// Where and when a parked task last ran, kept in its `next` (no queue
/// links a parked task): the worker that parked it stores it just before
/// the park's transition, and dump_tasks reads it while it holds the task
/// (task/harness.hpp, hold_parked), so neither races a queue's use of the
/// field. `tick` is the worker's coarse clock (now_tick, read once a
/// scheduler tick and when the worker wakes).
struct ParkStamp {
  std::uint64_t tick;
  unsigned worker;

  static constexpr unsigned worker_bits = 16;
  /// The word a worker stores: computed when its clock is read, so that a
  /// park pays one store (docs/performance-log.md, "Park stamps for the
  /// dump").
  [[nodiscard]] constexpr std::uint64_t bits() const noexcept {
    return (tick << worker_bits) | (worker & ((1u << worker_bits) - 1));
  }
  static void store(TaskHeader* t, std::uint64_t bits) noexcept;
  [[nodiscard]] static ParkStamp load_from(const TaskHeader* t) noexcept;
};

inline void ParkStamp::store(TaskHeader* t, std::uint64_t bits) noexcept {
  t->next = std::bit_cast<TaskHeader*>(bits);
}
inline ParkStamp ParkStamp::load_from(const TaskHeader* t) noexcept {
  const auto bits = std::bit_cast<std::uint64_t>(t->next);
  return ParkStamp{bits >> worker_bits, static_cast<unsigned>(bits & ((1u << worker_bits) - 1))};
}

/// The waker vtable for tasks; defined in common/src/task/harness.cpp.
DUET_API extern const WakerVTable task_waker_vtable;

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

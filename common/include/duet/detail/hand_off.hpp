// duet/detail/hand_off.hpp: the worker's half of a direct hand-off between
// tasks that switch stacks (fibers), for the stackful library.
//
// A fiber that parks, yields or finishes while the next task its worker
// would run is another fiber jumps straight to it: one stack switch instead
// of two (fiber -> worker loop -> fiber), with the worker loop's
// bookkeeping for the fiber that left done by the one that arrives, on the
// same worker thread (docs/architecture.md, "Direct hand-off"). These calls
// are that bookkeeping, written once in the worker (common/src/sched/worker.cpp)
// so that the loop and the hand-off cannot disagree. All of them run on a
// worker thread, from the task it is running, and touch only that worker's
// own state.
#pragma once

#include "duet/export.hpp"

#include <cstdint>

#include "duet/detail/task_header.hpp"

namespace duet::detail {

class Worker;

/// A task taken off a worker's queues for a hand-off, with the state that
/// its transition to RUNNING returned (CANCELLED in it: the worker must
/// cancel it rather than run it).
struct NextTask {
  TaskHeader* task = nullptr;
  TaskSnapshot state;
};

/// The worker that runs the calling task, or null (not on a worker: the
/// thread that shuts a runtime down, a thread outside the runtime).
DUET_API Worker* current_worker() noexcept;

/// The task `w` would run next without its loop's maintenance: its LIFO
/// slot (within RuntimeConfig::lifo_cap), else the front of its ring; it is
/// taken, moved to RUNNING and counted as a poll. Null when nothing is queued,
/// or when the tick's budget is spent (the loop must then reap I/O, fire
/// timers and look at the injection queue first).
DUET_API NextTask take_next_task(Worker& w) noexcept;
/// take_next_task on the calling thread's worker (nothing when it has none).
DUET_API NextTask take_next_task() noexcept;

/// A task from take_next_task that the caller does not switch to: `w` runs
/// it as soon as control returns to its loop, before anything else.
DUET_API void run_next_on_worker(Worker& w, NextTask n) noexcept;

/// The loop's bookkeeping for `t`, whose run on the calling worker just
/// ended with `r` (a hand-off: the caller is that worker's next task):
/// pending: list it on its first park, then idle (requeued if woken
/// meanwhile); yielded: to the back of the ring; complete: wake its joiner
/// (unless publish_completion did), unlist it and drop the run's references. Called once the caller
/// is off `t`'s stack, so that whoever sees the task idle or complete may resume, join or free it.
/// Counted in WorkerStats::hand_offs.
DUET_API void run_ended_by_hand_off(TaskHeader* t, RunResult r) noexcept;

/// Marks a finished task complete and wakes its joiner (or drops the
/// outcome nobody will read), before the switch off its stack: a joiner
/// on this worker is then queued and can be the next task.
/// run_ended_by_hand_off then only releases it. The harness's own entry point
/// (common/src/task/harness.hpp), declared here for the stackful library.
DUET_API void publish_completion(TaskHeader* t) noexcept;

/// The turn after a yield of `self`, the task running on the calling
/// worker, in one call:
///   - `self` (its state not read): nothing else is runnable on `w` and the
///     tick has budget left. Counted as a poll and a yield; the task goes
///     on without a switch, as the worker loop's own yield fast path does
///     for coroutines.
///   - another task: the next one, taken as take_next_task takes it. The
///     caller switches to it, or gives it to run_next_on_worker.
///   - null: the loop must run first (see take_next_task), or the caller
///     does not run on a worker: switch out to the thread.
DUET_API NextTask take_yield_turn(TaskHeader* self) noexcept;

/// Whether the calling thread's worker is running a child inside its
/// joiner's poll (the join hand-off, Worker::run_child_inline); false off a
/// worker. A fiber run so never hands off (take_next_task returns nothing):
/// it switches back to its joiner.
DUET_API bool running_inline() noexcept;
/// The calling thread's worker when the task it runs may hand off: null off
/// a worker and inside a join hand-off (one call where current_worker and
/// running_inline were two, on every fiber's finish).
DUET_API Worker* hand_off_worker() noexcept;

}  // namespace duet::detail

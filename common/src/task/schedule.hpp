// task/schedule.hpp: the scheduler as the task harness reaches it (Tokio's
// Schedule trait, as plain functions). Declared here, below sched/, and
// defined there (sched/scheduler.cpp, sched/worker.cpp), so that task/
// includes nothing of sched/ (docs/architecture.md, "Module map"). Each is
// a direct call, as the harness made to Scheduler's members before: no
// virtual call, no function pointer.
#pragma once

namespace duet::detail {

struct TaskHeader;

/// A woken task (it holds the queue reference): its runtime, `t->sched`,
/// queues it (Scheduler::schedule).
void schedule_woken(TaskHeader* t) noexcept;
/// A woken PINNED task (it holds the queue reference): queued on its home
/// worker (Scheduler::schedule_pinned).
void schedule_woken_pinned(TaskHeader* t) noexcept;
/// The join hand-off: when the calling thread is a worker of `t`'s runtime
/// and would run `t` next (spawned just before this join), runs it here
/// first (Worker::run_child_inline); otherwise does nothing.
void run_child_if_next_here(TaskHeader* t);

}  // namespace duet::detail

// duet/detail/current.hpp: what the calling thread is running, and the
// entry points that the typed spawn and wait templates call.
//
// The accessors are out of line on purpose: a fiber can move to another
// worker thread between two calls, and an inlined thread-local access could
// let the compiler reuse the first thread's address.
#pragma once

#include "duet/export.hpp"

#include "duet/detail/task_header.hpp"
#include "duet/waker.hpp"

namespace duet {
class Runtime;
}

namespace duet::detail {

/// The task the calling worker is running, or null (not on a worker, or in
/// the worker loop itself).
DUET_API TaskHeader* current_task() noexcept;
DUET_API void set_current_task(TaskHeader* t) noexcept;
/// The scheduler of the calling worker thread, or null.
DUET_API Scheduler* current_scheduler() noexcept;

/// Hands a newly built task (fresh TaskHeader state) to `s`: queues it (it is
/// listed when it first parks). A runtime that has shut down cancels the
/// task at once; one whose drain has begun cancels and frees it and throws
/// SpawnRefused (duet/drain.hpp), so call it before building a JoinHandle.
DUET_API void submit_new(Scheduler* s, TaskHeader* t);
/// submit_new for a task pinned to worker `home` of `s` (in range: the
/// caller checked): it runs on that worker only (duet::pinned).
DUET_API void submit_pinned(Scheduler* s, TaskHeader* t, unsigned home);
/// Sees each new task of a runtime on the spawning thread, after it is
/// built and before it is queued (it has not run): duet::sim makes a child
/// of a host's task one of the host's tasks. spawned() must not throw or
/// spawn, and must return before the child may run (it holds no lock of
/// the scheduler's).
class SpawnObserver {
 public:
  virtual void spawned(TaskHeader* child) noexcept = 0;

 protected:
  ~SpawnObserver() = default;
};
/// Installs `o` on `s` (null: none). Called before the runtime's first
/// spawn, or after its shutdown: the spawn path reads it unsynchronized.
/// With none, a spawn pays nothing for it (the one test of the spawn's
/// slow path that RuntimeConfig::list_all_tasks already takes).
DUET_API void set_spawn_observer(Scheduler* s, SpawnObserver* o) noexcept;
/// A worker finished a detached task with an exception: report it.
DUET_API void report_detached_exception(TaskHeader* t, std::exception_ptr e) noexcept;

/// Blocking outside the runtime: a waker for the calling thread (no
/// reference counting) and the park it wakes.
DUET_API Waker thread_waker() noexcept;
DUET_API void thread_park() noexcept;
/// The calling thread's wait (off every runtime) ends: its operation is
/// ready (the observer of duet/detail/driven_clock.hpp sees it).
DUET_API void thread_wait_done() noexcept;

}  // namespace duet::detail

// thread_context.hpp: what runs on this thread, in one place.
//
// A worker thread sets `worker`, `driver` and `timers` for its lifetime and `task`
// around each run; every other thread has them null and blocks in `parker`
// (duet::wait and join outside the runtime). The accessors of
// duet/detail/current.hpp, hand_off.hpp and driver.hpp read this struct out
// of line (current.cpp): a fiber can move to another worker between two
// calls, and an inlined thread-local access could reuse the first thread's
// address. The worker loop, which never runs on a fiber, reads it directly.
#pragma once

#include "duet/export.hpp"

#include "duet/detail/parker.hpp"
#include "duet/detail/thread_local.hpp"

namespace duet::detail {

struct TaskHeader;
class Worker;
class Driver;
class TimerWheel;

struct ThreadContext {
  Worker* worker = nullptr;      // the worker this thread is, or null
  TaskHeader* task = nullptr;    // the task it runs now, or null (the loop itself)
  Driver* driver = nullptr;      // the worker's driver (duet/detail/driver.hpp)
  TimerWheel* timers = nullptr;  // the worker's timers (time/wheel.hpp)
  Parker parker;                 // what a thread off the runtime blocks in
};
/// The task a worker runs, as its loop sets it around each run (the one
/// place it is written): set before a run, a cancel or a completion, so
/// that what the run wakes is woken by a task (the woken task takes the
/// LIFO slot: Scheduler::schedule); read back after a run, where a fiber
/// that handed the worker on (duet/detail/hand_off.hpp) has left the task
/// whose run ended. Inline for the loop; current_task() and
/// set_current_task() are the out-of-line faces for the other modules.
[[gnu::always_inline]] inline void run_as(TaskHeader* t) noexcept;
/// Ends what run_as began: the task current now (the loop's context again).
[[gnu::always_inline]] inline TaskHeader* end_run_as() noexcept;
/// The task this thread runs now, or null (the loop itself, or off every
/// worker). A fiber may resume on another thread after a switch: a caller
/// reads it once, before anything that could switch (duet/detail/current.hpp).
[[nodiscard, gnu::always_inline]] inline TaskHeader* running_task() noexcept;

// constinit: no dynamic initializer, so other files read it directly rather
// than through its TLS init function (a PLT call on every access: four per
// task run in Worker::run_task).
DUET_API extern DUET_TLS constinit ThreadContext tl_context;

inline void run_as(TaskHeader* t) noexcept {
  tl_context.task = t;
}
inline TaskHeader* end_run_as() noexcept {
  TaskHeader* t = tl_context.task;
  tl_context.task = nullptr;
  return t;
}
inline TaskHeader* running_task() noexcept {
  return tl_context.task;
}

}  // namespace duet::detail

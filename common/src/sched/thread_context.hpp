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
#include "duet/detail/tls.hpp"

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
/// The calling worker's timer wheel, or null (out of line, current.cpp).
DUET_API TimerWheel* current_timers() noexcept;

// constinit: no dynamic initializer, so other files read it directly rather
// than through its TLS init function (a PLT call on every access: four per
// task run in Worker::run_task).
DUET_API extern DUET_TLS constinit ThreadContext tl_context;

}  // namespace duet::detail

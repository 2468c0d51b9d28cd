// held_run.hpp: a yield that keeps its run.
//
// A task that yields wants to run again after the others: it goes to the
// back of its worker's ring. Ending its run there (RUNNING -> NOTIFIED) and
// starting it again when it is popped (NOTIFIED -> RUNNING) would be two
// locked read-modify-writes besides the ring's pop, for a task that never
// stopped being owned by a worker. So the run is held
// instead: the task enters the ring still RUNNING, and its entry says so
// (the pointer's low bit; a TaskHeader is 64-byte aligned). Whoever takes
// the entry from a ring (its worker, a thief, the shutdown drain) owns the
// run as it stands and only reads the word, for CANCELLED
// (TaskState::resume_held).
//
// While held the task is RUNNING to everyone else, which is what they
// already handle: a wake sets NOTIFIED and leaves the queueing to the
// runner (the task is requeued when it next parks: a spurious poll at
// worst, which every task tolerates), a cancel sets CANCELLED and NOTIFIED
// and is seen when the entry is taken, or at the task's next transition.
//
// Only the rings hold held entries. One that leaves a ring for the injector
// (an overflow) gives its run up there, in the ordinary transition
// (unhold: RUNNING -> NOTIFIED), since the injector's consumers start runs
// with to_running. A held entry is never dereferenced as is: begin_run and
// unhold strip the bit.
#pragma once

#include <cstdint>

#include "duet/detail/task_header.hpp"
#include "task/harness.hpp"

namespace duet::detail {

/// The ring entry of `t`, whose run is held (it yielded).
[[nodiscard]] inline TaskHeader* held(TaskHeader* t) noexcept {
  return reinterpret_cast<TaskHeader*>(reinterpret_cast<std::uintptr_t>(t) | 1);
}
[[nodiscard]] inline bool is_held(const TaskHeader* e) noexcept {
  return (reinterpret_cast<std::uintptr_t>(e) & 1) != 0;
}
/// The task of a held entry (its bit stripped).
[[nodiscard]] inline TaskHeader* held_task(TaskHeader* e) noexcept {
  return reinterpret_cast<TaskHeader*>(reinterpret_cast<std::uintptr_t>(e) & ~std::uintptr_t{1});
}

/// Starts the run of the ring entry `e`: an ordinary queued task goes
/// NOTIFIED -> RUNNING; a held one is RUNNING already and its word is only
/// read. Returns the task; `prev` gets the word it starts from (CANCELLED in
/// it: cancel it rather than run it).
[[nodiscard]] inline TaskHeader* begin_run(TaskHeader* e, TaskSnapshot& prev) noexcept {
  if (!is_held(e)) {
    prev = start_run<RunStart::queued>(e);
    return e;
  }
  TaskHeader* t = held_task(e);
  prev = start_run<RunStart::held>(t);
  return t;
}

/// The ring entry `e` leaves for a queue that starts runs with to_running
/// (the injector): a held run is given up (RUNNING -> NOTIFIED, the queue
/// reference kept). Returns the task.
[[nodiscard]] inline TaskHeader* unhold(TaskHeader* e) noexcept {
  if (!is_held(e)) return e;
  TaskHeader* t = held_task(e);
  give_up_held_run(t);
  return t;
}

}  // namespace duet::detail

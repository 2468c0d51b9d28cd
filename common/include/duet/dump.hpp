// duet/dump.hpp: a dump of every live task of a runtime.
//
// Example (fiber):
//   duet::dump_tasks(rt, std::cerr);
//
// One line per task that has not finished: its address, backend (stackless,
// poll, stackful), state (running, ready = queued, parked = waiting on a
// waker, cancelling), and what its backend adds (fibers: strategy, stack in
// use and size, high-water mark, spawn site, where it parked). Tasks are
// read while they run: the line is a snapshot, not a consistent cut.
// duet/stackful/introspect.hpp can print it on a signal.
#pragma once

#include <cstddef>
#include <iosfwd>

#include "duet/detail/task_header.hpp"

namespace duet {
class Runtime;

/// Writes one line per live task of `rt` to `os`; returns how many.
std::size_t dump_tasks(Runtime& rt, std::ostream& os);

namespace detail {
/// A backend's part of a task's dump line (the fiber backend registers one).
using TaskDescriber = void (*)(const TaskHeader* t, std::ostream& os);
void set_task_describer(TaskKind kind, TaskDescriber d) noexcept;
}  // namespace detail

}  // namespace duet

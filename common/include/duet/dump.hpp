// duet/dump.hpp: a dump of every live task of a runtime.
//
// Example (fiber):
//   duet::dump_tasks(rt, std::cerr);
//
// One line per listed unfinished task (every live task with
// RuntimeConfig::list_all_tasks; otherwise those that parked at least once):
// its address, backend (stackless, poll, stackful), state (running, ready =
// queued, parked = waiting on a waker, cancelling), and what its backend
// adds (fibers: strategy, stack in use and size, high-water mark, spawn
// site, where it parked). Then a count of the live tasks: those lines plus
// the tasks that have not parked yet (queued, or in their first run), which
// are counted but not described: without the knob a task is listed when it
// first parks, since listing every spawn costs each spawn a lock. Tasks are
// read while they run: the dump is a snapshot, not a consistent cut.
// duet/stackful/introspect.hpp can print it on a signal.
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <iosfwd>

#include "duet/detail/task_header.hpp"

namespace duet {
class Runtime;

/// Writes one line per parked-at-least-once task of `rt` and a count line to
/// `os`; returns the live tasks (described or not).
DUET_API std::size_t dump_tasks(Runtime& rt, std::ostream& os);

}  // namespace duet

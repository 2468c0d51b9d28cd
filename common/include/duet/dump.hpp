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
// site, where it parked); a parked task, the worker it last ran on and how
// long it has been parked (" worker=1 parked_for=12ms", to a scheduler
// tick). A parked coroutine task (stackless) is followed by
// its async backtrace: what its innermost coroutine waits in, then one line
// per coroutine of its chain of awaits, innermost first, up to the spawned
// one:
//
//   task 0x7f..40 stackless parked refs=2 worker=1 parked_for=37ms
//     waits in duet::Sleep
//     #0 fetch_row(Db&, int)
//     #1 handle_request(Request)
//     #2 serve(TcpStream)
//
// Names come from each object file's full symbol table (internal functions
// included; "object+0x1f" in a stripped one). To read the chain the dump
// holds the task as if it ran it, for the few loads the walk takes: a wake
// meanwhile queues it when the dump lets go.
//
// Then a count of the live tasks: those lines plus the tasks that have not
// parked yet (queued, or in their first run), which are counted but not
// described: without the knob a task is listed when it first parks, since
// listing every spawn costs each spawn a lock. Tasks are read while they
// run: the dump is a snapshot, not a consistent cut.
// duet/stackful/introspect.hpp can print it on a signal.
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <iosfwd>

#include "duet/detail/task_header.hpp"

namespace duet {
class Runtime;

/// Writes the listed tasks of `rt` (with the async backtraces of parked
/// coroutine tasks) and a count line to `os`; returns the live tasks
/// (described or not). Call it from any thread, not from a signal handler.
DUET_API std::size_t dump_tasks(Runtime& rt, std::ostream& os);

}  // namespace duet

// duet/stackless/coro_task.hpp: a spawned coroutine as the scheduler sees it.
//
// The spawned Task<T>'s frame is the root of a chain of awaited child
// Tasks; at any moment one coroutine of the chain, the leaf, runs or is
// suspended. The task records that leaf and, when the leaf waits on a poll
// future, the future itself: a wake-up re-polls it before resuming, so a
// spurious or stale wake never resumes a coroutine whose operation is not
// ready (a C++ coroutine, unlike a poll future, cannot be resumed "just to
// check").
//
// Moving between parent and child is a hop through the task's run loop (a
// trampoline), not a nested resume: a child await suspends the parent with
// leaf = child, a child's final suspend sets leaf = parent, and the loop
// resumes the new leaf. The thread stack therefore stays flat however deep or
// long the chain is, in every build mode. (Returning the next handle from
// await_suspend, "symmetric transfer", is flat only when the compiler emits
// a sibling call: GCC 12 does at -O2, but not at -O0/-O1 or under ASan and
// TSan, where a million nested awaits overflow the stack; see
// docs/architecture.md.)
#pragma once

#include <coroutine>

#include "duet/detail/current.hpp"
#include "duet/detail/task_header.hpp"

namespace duet::detail {

struct CoroTaskBase : TaskHeader {
  using TaskHeader::TaskHeader;
  std::coroutine_handle<> leaf;                  // what to resume next
  void* wait_op = nullptr;                       // the awaiter the leaf waits in
  bool (*wait_poll)(void*, Context&) = nullptr;  // re-polls it: true when ready
  RunResult suspend_kind = RunResult::pending;   // set by the leaf's awaiter
  bool hop = false;  // the leaf changed (child entered or finished): resume it
};

}  // namespace duet::detail

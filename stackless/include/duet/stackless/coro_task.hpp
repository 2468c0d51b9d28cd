// duet/stackless/coro_task.hpp: a spawned coroutine as the scheduler sees it.
//
// The spawned Task<T>'s frame is the root of a chain: awaiting a child Task
// transfers into it symmetrically (no thread-stack growth), so at any moment
// one coroutine of the chain, the leaf, is suspended on something. The task
// records that leaf and, when the leaf waits on a poll future, the future
// itself: a wake-up re-polls it before resuming, so a spurious or stale wake
// never resumes a coroutine whose operation is not ready (a C++ coroutine,
// unlike a poll future, cannot be resumed "just to check").
#pragma once

#include <coroutine>

#include "duet/detail/current.hpp"
#include "duet/detail/task_header.hpp"

namespace duet::detail {

struct CoroTaskBase : TaskHeader {
  using TaskHeader::TaskHeader;
  std::coroutine_handle<> leaf;              // what to resume next
  void* wait_op = nullptr;                   // the awaiter the leaf waits in
  bool (*wait_poll)(void*, Context&) = nullptr;  // re-polls it: true when ready
  RunResult suspend_kind = RunResult::pending;   // set by the leaf's awaiter
};

/// The coroutine task the calling worker runs (awaiters call this).
inline CoroTaskBase* current_coro_task() noexcept {
  return static_cast<CoroTaskBase*>(current_task());
}

}  // namespace duet::detail

// duet/stackless/coro_task.hpp: how a spawned coroutine runs, and the one
// block it lives in.
//
// The spawned Task<T>'s frame is the root of a chain of awaited child
// Tasks; at any moment one coroutine of the chain, the leaf, runs or is
// suspended. Between runs the task records that leaf and, when the leaf
// waits on a poll future, the awaiter it waits in: a wake-up re-polls it
// before resuming, so a spurious or stale wake never resumes a coroutine
// whose operation is not ready (a C++ coroutine, unlike a poll future,
// cannot be resumed "just to check").
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
//
// During a run, the loop's state (task, leaf, wait) is a CoroRun on the
// run's own stack, reached by the awaiters through one thread-local pointer;
// a frame therefore carries no pointer to its task. Between runs, the leaf
// and the wait are kept in the root's promise (PromiseSlot in task.hpp says
// where).
//
// One block per spawned coroutine. A frame is allocated before anyone knows
// whether it will be spawned or awaited, so every Task frame is allocated
// with `frame_head` (64) bytes in front of it: the task header it becomes if
// it is spawned. A parked spawned Task<void> whose body waits on a 40-byte
// future is one 192-byte block (header 64 + GCC frame 128), where it was a
// 128-byte task block plus the frame (256, lab rss). When the root finishes
// or is cancelled, its frame is destroyed but its memory stays: the outcome
// is built in it, and the block goes back whole at the last reference (as
// Tokio's task cell and duet's PollTask keep theirs). An awaited child
// leaves its 64 bytes unused while it lives; docs/architecture.md weighs
// that against the block it saves per spawn.
#pragma once

#include <coroutine>
#include <cstddef>
#include <utility>

#include "duet/detail/block_cache.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/detail/tls.hpp"

namespace duet::detail {

/// What a leaf waits in: an awaiter whose first member is this. `repoll`
/// polls its operation again with the task's waker: true when ready.
struct WaitOp {
  bool (*repoll)(WaitOp*, Context&);
};

/// One run of a spawned coroutine, on the run's stack. The awaiters of the
/// coroutine that runs (root or child) write to it through tl_coro_run.
/// The coroutine that runs is always `leaf` (the loop resumes only it), so
/// a yield records nothing, a wait only itself, and a hop is a changed leaf.
struct CoroRun {
  TaskHeader* task;
  std::coroutine_handle<> leaf;  // what runs, and what to resume next
  WaitOp* wait = nullptr;        // set when the leaf suspends on a poll future
};

/// The run in progress on this thread. Set by each run and never cleared:
/// only the awaiters read it, and they run inside a run. A run nested in
/// another (a child joined in place, from a poll in an awaiter) sets its
/// own; the awaiter whose poll ran it sets the outer one back.
inline constinit DUET_TLS CoroRun* tl_coro_run = nullptr;

/// The bytes in front of every Task frame: room for the task header.
inline constexpr std::size_t frame_head = sizeof(TaskHeader);
static_assert(frame_head % block_align == 0, "a frame after its head keeps the block's alignment");

/// The frame whose memory outlives it (a spawned root being ended), and the
/// size its operator delete reported.
inline constinit DUET_TLS void* tl_kept_frame = nullptr;
inline constinit DUET_TLS std::size_t tl_kept_bytes = 0;

/// A Task frame of `n` bytes, after its head.
[[nodiscard, gnu::always_inline]] inline void* frame_alloc(std::size_t n) {
  return static_cast<std::byte*>(block_alloc(frame_head + n)) + frame_head;
}

/// A Task frame's operator delete: the block goes back, unless the frame is
/// a spawned root being ended (its task keeps the block).
[[gnu::always_inline]] inline void frame_free(void* f, std::size_t n) noexcept {
  if (f == tl_kept_frame) {
    tl_kept_bytes = n;
    return;
  }
  block_free(static_cast<std::byte*>(f) - frame_head, frame_head + n);
}

/// Destroys a spawned root's frame (and the chain it owns) but keeps its
/// memory; returns the frame's size. Reentrant: a destructor in the chain
/// may end another task's root.
inline std::size_t end_root_frame(std::coroutine_handle<> root) noexcept {
  void* outer = std::exchange(tl_kept_frame, root.address());
  root.destroy();
  tl_kept_frame = outer;
  return tl_kept_bytes;
}

}  // namespace duet::detail

// duet/stackless/frame.hpp: the one block a Task frame lives in, and the
// state of one run of a spawned coroutine.
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
// trampoline, CoroTask::run in coro_task.hpp), not a nested resume: a child
// await suspends the parent with leaf = child, a child's final suspend sets
// leaf = parent, and the loop resumes the new leaf. The thread stack
// therefore stays flat however deep or long the chain is, in every build
// mode. (Returning the next handle from await_suspend, "symmetric
// transfer", is flat only when the compiler emits a sibling call, which
// GCC 12 does at -O2 but not at -O0/-O1 or under ASan and TSan.)
//
// During a run, the loop's state (task, leaf, wait) is a CoroRun on the
// run's own stack, reached by the awaiters through one thread-local pointer;
// a frame therefore carries no pointer to its task. Between runs, the leaf
// and the wait are kept in the root's promise (PromiseSlot in task.hpp says
// where).
//
// One block per spawned coroutine. A frame is allocated before anyone knows
// whether it will be spawned or awaited, so every Task frame is allocated
// with `frame_head` (64) bytes in front of it: the task header (CoroTask,
// coro_task.hpp) it becomes if it is spawned. When the root finishes or is
// cancelled, its frame is destroyed but its memory stays: the outcome is
// built in it, and the block goes back whole at the last reference (as
// Tokio's task cell and duet's PollTask keep theirs). An awaited child
// leaves its 64 bytes unused while it lives.
//
// What this relies on from the compiler, stated once here and checked by
// tests/stackless/frame_assumptions.cpp with GCC, clang-14 and clang-16
// (tests/stackless/CMakeLists.txt), at -O0 and -O2:
//   1. coroutine_handle::address() is the pointer the promise's operator
//      new returned, so the header sits at address() - frame_head
//      (spawn_on, CoroTask::frame).
//   2. The frame begins with its two resume pointers, then the promise; so
//      an ended frame of n bytes (n as operator delete receives it) has at
//      least 2 pointers + sizeof(Promise<T>) bytes for the outcome (the
//      static_assert in CoroTask).
//   3. A spawned Task's frame is never elided into its caller's frame
//      (heap allocation elision): the function that makes it hands the
//      handle to the scheduler and never destroys it, so operator new is
//      always called and a spawned frame is a block. (clang elides a frame
//      whose creator destroys it on every path even when the handle
//      escaped meanwhile: the spawn's shape, not the escape, is what
//      keeps the allocation. An awaited child may be elided into its
//      parent: it never becomes a task, and its head room is not used.)
// And from the runtime: operator delete recognises the frame being ended
// by tl_kept_frame, which end_root_frame sets around the destroy it makes
// (the one place that ends a spawned root), so it keeps the block.
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

/// Where a frame's promise begins, and a frame's first word: its resume
/// function (assumption 2; the dump's async backtrace reads both, checked
/// by tests/stackless/frame_assumptions.cpp).
inline constexpr std::size_t promise_offset = 2 * sizeof(void*);
[[nodiscard]] inline const void* resume_function_of(const void* frame) noexcept {
  return *static_cast<const void* const*>(frame);
}

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

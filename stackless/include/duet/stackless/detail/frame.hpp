// duet/stackless/detail/frame.hpp: the block a Task's frame lives in, the
// state of one run of a coroutine chain (CoroRun, WaitOp), and the frame
// allocation every Task promise uses. Not part of the API: Task<T>'s
// templates (duet/stackless/task.hpp) need these, so the header is
// installed; nothing here is for a user's code to name, and the layout
// may change in any release.
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
// During a run, the loop's state (waker, leaf, wait) is a CoroRun on the
// run's own stack, reached by the awaiters through one thread-local pointer;
// a frame therefore carries no pointer to its task. Between runs, the leaf
// and the wait are kept in the root's promise (PromiseSlot, in
// duet/stackless/task.hpp, says where).
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
// by CoroThread::kept_frame, which end_root_frame sets around the destroy it makes
// (the one place that ends a spawned root), so it keeps the block.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>

#include "duet/detail/block_cache.hpp"
#include "duet/detail/check_mode.hpp"
#include "duet/detail/coro_thread.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/detail/thread_local.hpp"
#include "duet/poll.hpp"

namespace duet::detail {

/// What a leaf waits in: an awaiter whose first member is this. `repoll`
/// polls its operation again with the task's waker: true when ready.
struct WaitOp {
  bool (*repoll)(WaitOp*, Context&);
};

/// One run of a coroutine chain (a spawned task's, or a polled Task's), on
/// the run's stack. The awaiters of the coroutine that runs (root or child)
/// write to it through CoroThread::run. The coroutine that runs is always
/// `leaf` (the loop resumes only it), so a yield records nothing, a wait
/// only itself, and a hop is a changed leaf.
///
/// `waker` is the waker the run's awaiters poll with: a spawned task's own
/// (its header and the task waker vtable), or a polled Task's poller's
/// (its two words copied). Either way it is borrowed: it holds no
/// reference, and is never destroyed. It and `leaf` are members of
/// anonymous unions, so that a run stores each once: the waker is not
/// destroyed, and the leaf, set by the run once the wait it resumes from
/// is done, is not first set null.
struct CoroRun {
  CoroRun(void* data, const WakerVTable* vt) noexcept : waker(Waker::adopt(data, vt)) {}
  CoroRun(const CoroRun&) = delete;
  CoroRun& operator=(const CoroRun&) = delete;
  ~CoroRun() {}  // NOLINT: the waker is borrowed, so it is not destroyed
  union {
    Waker waker;
  };
  union {
    std::coroutine_handle<> leaf;  // what runs, and what to resume next (the run sets it)
  };
  WaitOp* wait = nullptr;  // set when the leaf suspends on a poll future
};

/// The bytes in front of every Task frame: room for the task header.
inline constexpr std::size_t frame_head = sizeof(TaskHeader);
static_assert(frame_head % block_align == 0, "a frame after its head keeps the block's alignment");

/// The block of a Task frame of `n` bytes: the head and the frame, in whole
/// cache lines, so that the block is 64-aligned (blocks::block_bytes) and the
/// task header at its start is one line. The block cache's finer classes
/// below 256 B cannot serve it: two such blocks of one class would need
/// 64-aligned starts closer than a multiple of 64.
[[nodiscard]] constexpr std::size_t frame_block_bytes(std::size_t n) noexcept {
  return (frame_head + n + block_align - 1) / block_align * block_align;
}

/// Where a frame's promise begins, and a frame's first word: its resume
/// function (assumption 2; the dump's async backtrace reads both, checked
/// by tests/stackless/frame_assumptions.cpp).
inline constexpr std::size_t promise_offset = 2 * sizeof(void*);
[[nodiscard]] inline const void* resume_function_of(const void* frame) noexcept {
  return *static_cast<const void* const*>(frame);
}

/// This thread's CoroThread, the address computed afresh at each call: a
/// coroutine resumes on whichever thread runs its task
/// (duet/detail/thread_local.hpp).
[[gnu::always_inline]] inline CoroThread& coro_thread() noexcept {
#if DUET_DETAIL_TLS_INLINE
  CoroThread* c;
  asm volatile(DUET_DETAIL_TLS_ADDRESS("duet_tl_coro") : "=r"(c));
#if DUET_CHECK_TRANSITIONS
  if (c != &coro_thread_opaque()) [[unlikely]]
    foreign_coro_thread(c);
#endif
  return *c;
#else
  return coro_thread_opaque();
#endif
}

/// A Task frame of `n` bytes, after its head.
[[nodiscard, gnu::always_inline]] inline void* frame_alloc(std::size_t n) {
  return static_cast<std::byte*>(block_alloc(frame_block_bytes(n))) + frame_head;
}

/// A Task frame's operator delete: the block goes back, unless the frame is
/// a spawned root being ended (its task keeps the block).
[[gnu::always_inline]] inline void frame_free(void* f, std::size_t n) noexcept {
  if (CoroThread& t = coro_thread(); f == t.kept_frame) {
    t.kept_bytes = n;
    return;
  }
  block_free(static_cast<std::byte*>(f) - frame_head, frame_block_bytes(n));
}

/// Destroys a spawned root's frame (and the chain it owns) but keeps its
/// memory; returns the frame's size. Reentrant: a destructor in the chain
/// may end another task's root.
inline std::size_t end_root_frame(std::coroutine_handle<> root) noexcept {
  // One address for the whole call: a destroy runs on this thread to its
  // end (nothing in it suspends).
  CoroThread& t = coro_thread();
  void* outer = std::exchange(t.kept_frame, root.address());
  root.destroy();
  t.kept_frame = outer;
  return t.kept_bytes;
}

}  // namespace duet::detail

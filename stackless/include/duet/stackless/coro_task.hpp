// duet/stackless/coro_task.hpp: a spawned Task<T>. CoroTask<T> is the task
// as the scheduler sees it: the task header, built in the room in front of
// the root frame (duet/stackless/detail/frame.hpp, frame_alloc), its run loop (the
// trampoline that resumes the chain's leaf), and its ending: the outcome
// built in the ended frame's memory, the block freed whole at the last
// reference. spawn_on builds it and submits it: a spawn allocates nothing.
//
// Example (file):
//   duet::Task<int> answer() { co_return 42; }
//   duet::JoinHandle<int> start() { return rt.spawn(answer()); }
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

#include "duet/detail/block_cache.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/poll_task.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/join_handle.hpp"
#include "duet/outcome.hpp"
#include "duet/runtime.hpp"
#include "duet/stackless/task.hpp"

namespace duet {
namespace detail {

/// A spawned Task<T>: the task header, in the head of the root frame's block
/// (frame_alloc). While the root lives, the frame follows the header;
/// once it has ended (returned, thrown or been cancelled), an `Ended` is
/// built in the frame's memory: the outcome, and the frame's size for the
/// block's release. COMPLETE in the state word says which of the two is
/// there (both ends set it before anyone else may look).
template <class T>
struct CoroTask final : TaskHeader {
  using Handle = typename Task<T>::handle_type;

  struct Ended {
    explicit Ended(std::size_t bytes) noexcept : frame_bytes(bytes) {}
    Ended(std::size_t bytes, Outcome<T>&& o) : frame_bytes(bytes), out(std::move(o)) {}
    std::size_t frame_bytes;
    Outcome<T> out;
  };
  // The frame holds its two resume pointers and the promise, whose result
  // slot is at least an Outcome<T>'s size.
  static_assert(sizeof(Ended) <= 2 * sizeof(void*) + sizeof(Promise<T>),
                "the outcome fits in the ended frame");
  static_assert(alignof(Ended) <= block_align && alignof(Promise<T>) <= 16,
                "Task frames are 16-byte aligned at most");

  /// Becomes the task of `h`'s frame: `h` must come from Task<T>::release.
  explicit CoroTask(Handle h) noexcept : TaskHeader(&vtable) { h.promise().park(h, nullptr); }

  [[nodiscard]] void* frame() noexcept { return reinterpret_cast<std::byte*>(this) + frame_head; }
  [[nodiscard]] Handle root() noexcept { return Handle::from_address(frame()); }
  [[nodiscard]] Ended* ended() noexcept { return std::launder(reinterpret_cast<Ended*>(frame())); }

  static RunResult run(TaskHeader* th) {
    auto* self = static_cast<CoroTask*>(th);
    Handle root = self->root();
    Promise<T>& p = root.promise();
    CoroRun r(th, &task_waker_vtable);
    if (WaitOp* w = p.wait()) {
      Context cx(r.waker);
      if (!w->repoll(w, cx)) return RunResult::pending;
      p.unpark();
    }
    r.leaf = p.leaf();
    // The thread-local itself, not coro_thread(): a run loop stays on one
    // thread (duet/detail/thread_local.hpp), and the compiler's own access stores
    // at the variable's offset from the thread pointer.
    tl_coro.run = &r;
    // Until the leaf stays the same: a child entered or finished (a hop).
    for (std::coroutine_handle<> h = r.leaf;; h = r.leaf) {
      h.resume();
      if (r.leaf == h) break;
    }
    if (root.done()) {
      self->end_with(std::move(p.out));
      return RunResult::complete;
    }
    // Each outcome parks and returns on its own path: a yield tests the
    // wait once.
    if (r.wait == nullptr) {
      p.park(r.leaf, nullptr);
      return RunResult::yielded;
    }
    p.park(r.leaf, r.wait);
    return RunResult::pending;
  }

  /// Destroys the root's frame, and with it the chain of frames it owns
  /// (each parent owns the child Task it awaits) and every awaiter in them,
  /// which unregisters their waiters. The memory stays; returns its size.
  std::size_t end_frame() noexcept {
    Promise<T>& p = root().promise();
    if (p.wait() != nullptr) p.unpark();  // the result slot holds a result again
    return end_root_frame(root());
  }

  /// The root has returned or thrown: its result becomes the outcome, built
  /// in the frame's memory.
  void end_with(ResultOf<T>&& result) {
    Outcome<T> out;
    if constexpr (std::is_void_v<T>) {
      if (auto e = result.take_exception()) {
        out.set_exception(std::move(e));
      } else {
        out.set_value();
      }
    } else {
      out = std::move(result);
    }
    const std::size_t bytes = end_frame();
    std::construct_at(reinterpret_cast<Ended*>(frame()), bytes, std::move(out));
  }

  static void cancel(TaskHeader* th) noexcept {
    auto* self = static_cast<CoroTask*>(th);
    const std::size_t bytes = self->end_frame();
    std::construct_at(reinterpret_cast<Ended*>(self->frame()), bytes)->out.set_cancelled();
  }

  static void destroy(TaskHeader* th) noexcept {
    auto* self = static_cast<CoroTask*>(th);
    std::size_t bytes = 0;
    // Relaxed: the last reference goes after COMPLETE was set, by an acq_rel
    // decrement or on the thread that set it (state.hpp).
    if (th->load(std::memory_order_relaxed).is_complete()) {
      Ended* e = self->ended();
      bytes = e->frame_bytes;
      std::destroy_at(e);
    } else {
      // Never ended (no path does this today: a task is completed or
      // cancelled before its last reference goes).
      bytes = self->end_frame();
    }
    std::destroy_at(self);
    block_free(self, frame_block_bytes(bytes));
  }
  static void* outcome(TaskHeader* th) noexcept {
    return &static_cast<CoroTask*>(th)->ended()->out;
  }
  static void drop_outcome(TaskHeader* th) noexcept {
    auto& out = static_cast<CoroTask*>(th)->ended()->out;
    if (out.has_exception()) [[unlikely]]
      report_detached_exception(th, out.exception());
    out.reset();
  }

  /// The chain of awaits of a task a dump holds (harness.hpp, hold_parked):
  /// from the leaf up, each frame's resume function, through the links
  /// (a child's is its parent's frame) to the root's frame.
  static void await_chain(TaskHeader* th, AwaitChain& c) noexcept {
    auto* self = static_cast<CoroTask*>(th);
    Promise<T>& p = self->root().promise();
    if (WaitOp* w = p.wait()) c.waits_in = reinterpret_cast<const void*>(w->repoll);
    for (const void* f = p.leaf().address();;) {
      if (c.depth == AwaitChain::max_frames) {
        c.truncated = true;
        return;
      }
      c.frames[c.depth++] = resume_function_of(f);
      if (f == self->frame()) return;
      f = reinterpret_cast<const void*>(PromiseBase::link_in_frame(f));
    }
  }

  static constexpr TaskVTable vtable{TaskKind::coroutine, &run,    &cancel,     &destroy, &outcome,
                                     &drop_outcome,       nullptr, &await_chain};
};
static_assert(sizeof(CoroTask<void>) == frame_head, "the task is the head of its frame's block");

}  // namespace detail

namespace detail {
/// Spawns a stackless task, handed to the scheduler by `submit`
/// (SubmitAnywhere, or SubmitPinned: duet::pinned). Throws
/// std::invalid_argument for an empty Task and std::bad_alloc when memory
/// runs out. Internal: each spawn_on takes its way through it.
template <class Submit, class T>
JoinHandle<T> spawn_via(Submit submit, Runtime& rt, Task<T> task) {
  if (!task.valid()) throw std::invalid_argument("duet::spawn: empty Task");
  using CT = CoroTask<T>;
  typename Task<T>::handle_type h = task.release();
  void* head = static_cast<std::byte*>(h.address()) - frame_head;
  auto* t = std::construct_at(static_cast<CT*>(head), h);
  submit(scheduler_of(rt), t);
  return JoinHandle<T>(t);
}
}  // namespace detail

/// Spawns a stackless task.
template <class T>
JoinHandle<T> spawn_on(Runtime& rt, Task<T> task) {
  return spawn_via(detail::SubmitAnywhere{}, rt, std::move(task));
}

}  // namespace duet

// duet/wait.hpp: the blocking face of any poll future.
//
// Example (fiber):
//   duet::Mutex m;
//   duet::MutexGuard g = duet::wait(m.lock());
//
// In a fiber, parks the fiber until op is ready (the worker runs other
// tasks meanwhile). On a copy-stack fiber an rvalue `op` is first moved to
// the heap, because the fiber's stack bytes move while it is suspended and an
// operation may have linked a waiter node of its own into a shared list; an
// lvalue `op` that lives on such a fiber's stack is the caller's
// responsibility (see docs/stackful.md). On a thread outside the runtime, parks the thread. On a
// worker running a stackless task it throws std::logic_error: blocking there
// would stall every task on that worker; `co_await op` instead.
#pragma once

#include "duet/export.hpp"

#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "duet/detail/current.hpp"
#include "duet/poll.hpp"
#include "duet/waker.hpp"

namespace duet {

namespace detail {
[[noreturn]] DUET_API void throw_wait_on_worker();

/// The fiber face: poll, park the fiber, poll again after the wake-up.
/// One poll, in a frame of its own, with the waker and context it needs:
/// an inlined poll's locals and spilled registers would otherwise stay on
/// the parked fiber's stack, and a copy fiber saves and restores those
/// bytes at every switch. With this and the out-of-line paths below, a
/// parked copy fiber keeps only this small frame on its stack
/// (docs/performance-log.md, "Figures that library comments carried").
template <class Op>
[[gnu::noinline]] auto poll_once(TaskHeader* t, Op& op) {
  BorrowedWaker w(t);
  Context cx(w.get());
  return op.poll(cx);
}

template <class Op>
future_output_t<Op> wait_on_fiber(TaskHeader* t, Op& op) {
  for (;;) {
    auto p = poll_once(t, op);
    if (p.is_ready()) return std::move(p).value();
    t->vtable->stackful->block(t);  // parks the fiber; throws FiberUnwind if cancelled
  }
}

/// A copy fiber's wait on an rvalue: the operation moves to the heap first.
/// Out of line, like the thread's wait: `wait` itself then keeps almost
/// nothing on a parked fiber's stack.
template <class Op>
[[gnu::noinline]] future_output_t<Op> wait_boxed(TaskHeader* t, Op&& op) {
  auto boxed = std::make_unique<Op>(std::move(op));
  return wait_on_fiber(t, *boxed);
}

template <class Op>
[[gnu::noinline]] future_output_t<Op> wait_on_thread(Op& op) {
  if (current_scheduler() != nullptr) throw_wait_on_worker();
  Waker w = thread_waker();
  Context cx(w);
  for (;;) {
    auto p = op.poll(cx);
    if (p.is_ready()) {
      thread_wait_done();
      return std::move(p).value();
    }
    thread_park();
  }
}
}  // namespace detail

template <Future F>
future_output_t<F> wait(F&& op) {
  using Op = std::remove_cvref_t<F>;
  if (detail::TaskHeader* t = detail::current_task()) {
    const detail::StackfulOps* ops = t->vtable->stackful;
    if (ops == nullptr) detail::throw_wait_on_worker();
    if constexpr (!std::is_lvalue_reference_v<F>) {
      if (ops->frames_move != nullptr && ops->frames_move(t)) {
        return detail::wait_boxed<Op>(t, std::move(op));
      }
    }
    return detail::wait_on_fiber(t, op);
  }
  return detail::wait_on_thread(op);
}

}  // namespace duet

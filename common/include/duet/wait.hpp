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

#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "duet/detail/current.hpp"
#include "duet/poll.hpp"
#include "duet/waker.hpp"

namespace duet {

namespace detail {
[[noreturn]] void throw_wait_on_worker();

/// The fiber face: poll, park the fiber, poll again after the wake-up.
template <class Op>
future_output_t<Op> wait_on_fiber(TaskHeader* t, Op& op) {
  BorrowedWaker w(t);
  Context cx(w.get());
  for (;;) {
    auto p = op.poll(cx);
    if (p.is_ready()) return std::move(p).value();
    t->vtable->block(t);  // parks the fiber; throws FiberUnwind if cancelled
  }
}
}  // namespace detail

template <Future F>
future_output_t<F> wait(F&& op) {
  if (detail::TaskHeader* t = detail::current_task()) {
    if (t->vtable->block == nullptr) detail::throw_wait_on_worker();
    if constexpr (!std::is_lvalue_reference_v<F>) {
      if (t->vtable->shared_stack != nullptr && t->vtable->shared_stack(t)) {
        auto boxed = std::make_unique<std::remove_cvref_t<F>>(std::move(op));
        return detail::wait_on_fiber(t, *boxed);
      }
    }
    return detail::wait_on_fiber(t, op);
  }
  if (detail::current_scheduler() != nullptr) detail::throw_wait_on_worker();
  Waker w = detail::thread_waker();
  Context cx(w);
  for (;;) {
    auto p = op.poll(cx);
    if (p.is_ready()) return std::move(p).value();
    detail::thread_park();
  }
}

}  // namespace duet

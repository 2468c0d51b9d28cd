// duet/wait.hpp: the blocking face of any poll future.
//
//   auto v = duet::wait(op);
//
// In a fiber, parks the fiber until op is ready (the worker runs other
// tasks meanwhile). On a thread outside the runtime, parks the thread. On a
// worker running a stackless task it throws std::logic_error: blocking there
// would stall every task on that worker; `co_await op` instead.
#pragma once

#include <stdexcept>
#include <utility>

#include "duet/detail/current.hpp"
#include "duet/poll.hpp"
#include "duet/waker.hpp"

namespace duet {

namespace detail {
[[noreturn]] void throw_wait_on_worker();
}

template <Future F>
future_output_t<F> wait(F&& op) {
  if (detail::TaskHeader* t = detail::current_task()) {
    if (t->vtable->block == nullptr) detail::throw_wait_on_worker();
    detail::BorrowedWaker w(t);
    Context cx(w.get());
    for (;;) {
      auto p = op.poll(cx);
      if (p.is_ready()) return std::move(p).value();
      t->vtable->block(t);  // parks the fiber; throws Cancelled if cancelled
    }
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

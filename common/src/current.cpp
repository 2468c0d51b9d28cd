#include "duet/detail/current.hpp"
#include "duet/detail/tls.hpp"

#include <stdexcept>

#include "duet/drivers/parker.hpp"
#include "duet/runtime.hpp"
#include "scheduler.hpp"

namespace duet::detail {
DUET_TLS constinit TaskHeader* tl_task = nullptr;
namespace {
thread_local Parker tl_parker;

// A thread waker points at the thread's own Parker, which lives as long as
// the thread: no reference counting.
void t_noop(void*) {}
void t_wake(void* d) {
  static_cast<Parker*>(d)->unpark();
}
const WakerVTable thread_vtable{&t_noop, &t_wake, &t_wake, &t_noop};
}  // namespace

TaskHeader* current_task() noexcept {
  return tl_task;
}
void set_current_task(TaskHeader* t) noexcept {
  tl_task = t;
}

Waker thread_waker() noexcept {
  return Waker::adopt(&tl_parker, &thread_vtable);
}
void thread_park() noexcept {
  tl_parker.park();
}

void throw_wait_on_worker() {
  throw std::logic_error(
      "duet::wait/join: blocking on a runtime worker outside a fiber would stall the worker; "
      "co_await the operation instead");
}

Scheduler* scheduler_of(Runtime& rt) noexcept {
  return rt.sched_.get();
}

}  // namespace duet::detail

// current.cpp: the calling thread's context (thread_context.hpp) and the
// out-of-line entry points that read it: those of duet/detail/current.hpp,
// and those the mechanisms below the scheduler declare (current_timers in
// time/wheel.hpp, current_blocking_quota in blocking/quota.hpp).
#include "duet/detail/current.hpp"
#include "duet/detail/fork.hpp"

#include <atomic>
#include <stdexcept>

#include "duet/detail/driven_clock.hpp"
#include "duet/detail/driver.hpp"
#include "duet/runtime.hpp"
#include "scheduler.hpp"
#include "thread_context.hpp"

namespace duet::detail {
DUET_TLS constinit ThreadContext tl_context;

namespace {
/// The observer of plain threads' waits (driven_clock.hpp), or null.
std::atomic<ThreadWaitObserver*> g_wait_observer{nullptr};

ThreadWaitObserver* wait_observer() noexcept {
  // Acquire: pairs with the release in observe_thread_waits, so an observer
  // seen is one fully built.
  return g_wait_observer.load(std::memory_order_acquire);
}

// A thread waker points at the thread's own Parker, which lives as long as
// the thread: no reference counting.
void t_noop(void*) {}
void t_wake(void* d) {
  if (ThreadWaitObserver* o = wait_observer()) o->waking(d);
  static_cast<Parker*>(d)->unpark();
}
const WakerVTable thread_vtable{&t_noop, &t_wake, &t_wake, &t_noop};
}  // namespace

TaskHeader* current_task() noexcept {
  return running_task();
}
void set_current_task(TaskHeader* t) noexcept {
  run_as(t);
}
Worker* current_worker() noexcept {
  return tl_context.worker;
}
Driver* current_driver() noexcept {
  return tl_context.driver;
}
TimerWheel* current_timers() noexcept {
  return tl_context.timers;
}
Scheduler* current_scheduler() noexcept {
  Worker* w = tl_context.worker;
  return w != nullptr ? &w->scheduler() : nullptr;
}
BlockingQuota* current_blocking_quota() noexcept {
  Worker* w = tl_context.worker;
  return w != nullptr ? w->scheduler().blocking_quota.get() : nullptr;
}

Waker thread_waker() noexcept {
  return Waker::adopt(&tl_context.parker, &thread_vtable);
}
void thread_park() noexcept {
  check_not_forked("a wait from a plain thread (block_on, join, duet::wait)");
  Parker* p = &tl_context.parker;
  if (ThreadWaitObserver* o = wait_observer()) o->parking(p);
  p->park();
}

void thread_wait_done() noexcept {
  if (ThreadWaitObserver* o = wait_observer()) o->waited(&tl_context.parker);
}

void observe_thread_waits(ThreadWaitObserver* o) {
  ThreadWaitObserver* expected = nullptr;
  if (o == nullptr) {
    g_wait_observer.store(nullptr, std::memory_order_release);  // Release: as below
    return;
  }
  // Release: publishes the observer's construction to the threads that
  // load it (wait_observer).
  if (!g_wait_observer.compare_exchange_strong(expected, o, std::memory_order_release,
                                               std::memory_order_relaxed)) {
    throw std::logic_error("duet: a second observer of plain threads' waits (one World at a time)");
  }
}

void throw_wait_on_worker() {
  throw std::logic_error(
      "duet::wait/join: blocking on a runtime worker outside a fiber would stall the worker; "
      "co_await the operation instead");
}

}  // namespace duet::detail

// driven_time.cpp: the world's time, driven by the test's thread's waits
// (driven_time.hpp).
#include "driven_time.hpp"

#include "duet/detail/current.hpp"

namespace duet::sim::detail {

DrivenTime::DrivenTime(Runtime& rt) : rt_(rt) {
  duet::detail::hold_clock(rt_, true);
  duet::detail::observe_thread_waits(this);
}

DrivenTime::~DrivenTime() {
  duet::detail::observe_thread_waits(nullptr);
}

void DrivenTime::parking(const void* parker) noexcept {
  // A thread about to sleep on a world operation: the world runs until
  // the wake that ends its wait. (A wait that does not involve the world
  // lets it run too: one thread drives the world.)
  waiter_.store(parker);
  if (!held_.exchange(false)) return;
  duet::detail::hold_clock(rt_, false);
}

void DrivenTime::waking(const void* parker) noexcept {
  // On the worker (or whoever wakes): the end of the driver's wait holds
  // the clock here, before the worker may step again.
  const void* expected = parker;
  if (!waiter_.compare_exchange_strong(expected, nullptr)) return;
  held_.store(true);
  duet::detail::hold_clock(rt_, true);
}

void DrivenTime::waited(const void* parker) noexcept {
  // A wait that ended without its wake (its operation was ready at a
  // poll after a stale wake-up): hold here, the best point left.
  const void* expected = parker;
  if (waiter_.compare_exchange_strong(expected, nullptr) && !held_.exchange(true)) {
    duet::detail::hold_clock(rt_, true);
  }
  if (held_.load()) duet::detail::wait_idle(rt_);
}

void DrivenTime::settle() {
  if (duet::detail::current_scheduler() != nullptr) return;
  if (held_.load()) duet::detail::wait_idle(rt_);
}

}  // namespace duet::sim::detail

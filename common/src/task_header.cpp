#include "duet/detail/task_header.hpp"

#include "scheduler.hpp"

namespace duet::detail {

using namespace state;

// All transitions are CAS loops with AcqRel on success: each one both
// publishes the caller's writes (release) and must see the writes of
// whoever set the bits it reads (acquire). Failure reloads with Acquire.

WakeAction TaskHeader::transition_wake_by_val() noexcept {
  auto cur = state_.load(std::memory_order_acquire);
  for (;;) {
    std::uint64_t next;
    WakeAction a = WakeAction::none;
    if (cur & running) {
      // The worker that runs it will see NOTIFIED and queue it again.
      next = (cur | notified) - ref_one;
    } else if (cur & (complete | notified)) {
      next = cur - ref_one;
      if (refs(next) == 0) a = WakeAction::destroy;
    } else {
      next = cur | notified;  // our reference becomes the queue's
      a = WakeAction::submit;
    }
    if (state_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      return a;
    }
  }
}

WakeAction TaskHeader::transition_wake_by_ref() noexcept {
  auto cur = state_.load(std::memory_order_acquire);
  for (;;) {
    if (cur & (complete | notified)) return WakeAction::none;
    std::uint64_t next;
    WakeAction a = WakeAction::none;
    if (cur & running) {
      next = cur | notified;
    } else {
      next = (cur | notified) + ref_one;  // a new reference for the queue
      a = WakeAction::submit;
    }
    if (state_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      return a;
    }
  }
}

bool TaskHeader::transition_to_idle(bool list) noexcept {
  auto cur = state_.load(std::memory_order_acquire);
  for (;;) {
    std::uint64_t next = cur & ~running;
    if (list) next = (next | listed) + ref_one;
    bool requeue;
    if (cur & notified) {
      requeue = true;  // keep the queue reference
    } else {
      // Drop the queue reference. Never the last: the task is listed, and
      // the list holds one until the task completes.
      next -= ref_one;
      requeue = false;
    }
    if (state_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      return requeue;
    }
  }
}

void TaskHeader::transition_to_yielded() noexcept {
  auto cur = state_.load(std::memory_order_relaxed);
  while (!state_.compare_exchange_weak(cur, (cur & ~running) | notified, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
  }
}

WakeAction TaskHeader::transition_cancel() noexcept {
  auto cur = state_.load(std::memory_order_acquire);
  for (;;) {
    if (cur & (complete | cancelled)) return WakeAction::none;
    std::uint64_t next;
    WakeAction a = WakeAction::none;
    if (cur & running) {
      next = cur | cancelled | notified;  // the worker requeues it, then cancels
    } else if (cur & notified) {
      next = cur | cancelled;  // cancelled when popped
    } else {
      next = (cur | cancelled | notified) + ref_one;
      a = WakeAction::submit;
    }
    if (state_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      return a;
    }
  }
}

namespace {
void apply(TaskHeader* t, WakeAction a) noexcept {
  if (a == WakeAction::submit) {
    t->sched->schedule(t);
  } else if (a == WakeAction::destroy) {
    t->vtable->destroy(t);
  }
}
void w_clone(void* d) {
  static_cast<TaskHeader*>(d)->ref();
}
void w_wake(void* d) {
  auto* t = static_cast<TaskHeader*>(d);
  apply(t, t->transition_wake_by_val());
}
void w_wake_by_ref(void* d) {
  auto* t = static_cast<TaskHeader*>(d);
  apply(t, t->transition_wake_by_ref());
}
void w_drop(void* d) {
  static_cast<TaskHeader*>(d)->unref();
}
}  // namespace

const WakerVTable task_waker_vtable{&w_clone, &w_wake, &w_wake_by_ref, &w_drop};

void cancel_task(TaskHeader* t) noexcept {
  apply(t, t->transition_cancel());
}

}  // namespace duet::detail

#include "duet/join_handle.hpp"

namespace duet::detail {

using namespace state;

namespace {
/// Sets JOIN_WAKER after the handle wrote join_waker. False if the task
/// completed first (the handle still owns the waker then and drops it).
bool publish_join_waker(TaskHeader* t) {
  auto cur = t->load(std::memory_order_acquire);
  for (;;) {
    if (cur & complete) return false;
    // Release: the waker write happens-before the task side reads it.
    if (t->state_.compare_exchange_weak(cur, cur | join_waker, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
      return true;
    }
  }
}
}  // namespace

bool poll_join(TaskHeader* t, Context& cx) {
  auto cur = t->load(std::memory_order_acquire);
  if (cur & complete) return true;
  if (cur & join_waker) {
    // Both sides only read the waker while the bit is set: no race.
    if (t->join_waker.will_wake(cx.waker())) return false;
    // Take the slot back to replace the waker (fails if it completed).
    for (;;) {
      if (cur & complete) return true;
      if (t->state_.compare_exchange_weak(cur, cur & ~join_waker, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
        break;
      }
    }
  }
  t->join_waker = cx.waker();
  if (publish_join_waker(t)) return false;
  t->join_waker = Waker{};
  return true;  // completed meanwhile; acquire in the CAS failure saw it
}

void drop_join_handle(TaskHeader* t) noexcept {
  auto cur = t->load(std::memory_order_acquire);
  if (cur & complete) {
    // Completed with interest: the outcome is ours to drop (empty when it
    // was joined). Then one step clears JOIN_INTEREST (set, so subtracting
    // clears it) and drops our reference.
    t->vtable->drop_outcome(t);
    t->unref_with(join_interest);
    return;
  }
  for (;;) {
    if (cur & complete) {
      t->vtable->drop_outcome(t);
      t->unref_with(join_interest);
      return;
    }
    // Not complete: the task side will drop the outcome. Clear interest
    // (and reclaim a published waker) and drop our reference in one step.
    // Never the last reference: the task is queued, running or listed.
    auto next = (cur & ~(join_interest | join_waker)) - ref_one;
    if (t->state_.compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
      if (cur & join_waker) t->join_waker = Waker{};
      return;
    }
  }
}

void throw_empty_handle() {
  throw std::logic_error("duet::JoinHandle: empty handle (already joined or detached)");
}

}  // namespace duet::detail

// task/harness.cpp: the harness (harness.hpp) instantiated for real tasks,
// and the entry points the rest of duet calls: the task waker's vtable, the
// join handle's poll, drop and cancel, and completion publishing. It reaches
// the scheduler only through task/schedule.hpp.
#include "task/harness.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "duet/join_handle.hpp"
#include "task/schedule.hpp"

namespace duet::detail {

void AbortingTransitionChecks::violated(const char* transition, const char* needs,
                                        std::uint64_t bits) noexcept {
  std::fprintf(stderr,
               "duet: task state: %s needs %s, but the word was 0x%" PRIx64 " (flags 0x%" PRIx64
               ", %" PRIu64 " references)\n",
               transition, needs, bits, bits & TaskSnapshot::flag_mask,
               bits / TaskSnapshot::ref_one);
  std::abort();
}

void AbortingTransitionChecks::overflow(std::uint64_t bits) noexcept {
  std::fprintf(stderr, "duet: task state: reference count overflow (word 0x%" PRIx64 ")\n", bits);
  std::abort();
}

namespace {

/// A TaskHeader as the harness sees it.
struct HeaderTask {
  using waker_type = Waker;
  TaskHeader* t;

  TaskState& state() noexcept { return t->state; }
  [[nodiscard]] bool join_waker_is(const Waker& w) const noexcept {
    return t->join_waker.will_wake(w);
  }
  void store_join_waker(const Waker& w) { t->join_waker = w; }
  void clear_join_waker() noexcept { t->join_waker = Waker{}; }
  void wake_joiner() noexcept { t->join_waker.wake_by_ref(); }
  void drop_outcome() noexcept { t->vtable->drop_outcome(t); }
  void destroy() noexcept { t->vtable->destroy(t); }
};
static_assert(HarnessTask<HeaderTask>);

void apply(TaskHeader* t, WakeAction a) noexcept {
  if (a == WakeAction::submit) {
    schedule_woken(t);
  } else if (a == WakeAction::destroy) {
    t->vtable->destroy(t);
  } else if (a == WakeAction::submit_pinned) {
    schedule_woken_pinned(t);
  }
}
void w_clone(void* d) {
  static_cast<TaskHeader*>(d)->ref();
}
void w_wake(void* d) {
  auto* t = static_cast<TaskHeader*>(d);
  apply(t, t->state.wake_by_val());
}
void w_wake_by_ref(void* d) {
  auto* t = static_cast<TaskHeader*>(d);
  apply(t, t->state.wake_by_ref());
}
void w_drop(void* d) {
  static_cast<TaskHeader*>(d)->unref();
}
}  // namespace

const WakerVTable task_waker_vtable{&w_clone, &w_wake, &w_wake_by_ref, &w_drop};

void cancel_task(TaskHeader* t) noexcept {
  apply(t, t->state.cancel());
}

bool poll_join(TaskHeader* t, Context& cx) {
  // A child its worker would run next is run here first: one that finishes
  // at once is then joined with no join waker, no park and no wake
  // (spawn+join: docs/architecture.md).
  run_child_if_next_here(t);
  HeaderTask h{t};
  return poll_join(h, cx.waker());
}

bool run_join_inline(TaskHeader* t) {
  run_child_if_next_here(t);
  // Acquire: the outcome the run stored before COMPLETE, when another
  // thread ran it.
  return t->load(std::memory_order_acquire).is_complete();
}

bool watch_join(TaskHeader* t, const Waker& w) {
  HeaderTask h{t};
  return poll_join(h, w);
}

void drop_join_handle(TaskHeader* t) noexcept {
  HeaderTask h{t};
  drop_join_handle(h);
}

void drop_joined_handle(TaskHeader* t) noexcept {
  HeaderTask h{t};
  drop_join_handle(h, /*joined=*/true);
}

void publish_completion(TaskHeader* t) noexcept {
  HeaderTask h{t};
  publish_completion(h);
}

bool publish_completion_releasing(TaskHeader* t) noexcept {
  HeaderTask h{t};
  return publish_completion_releasing(h);
}

bool publish_completion_joined(TaskHeader* t) noexcept {
  HeaderTask h{t};
  return publish_completion_joined(h);
}

void throw_empty_handle() {
  throw std::logic_error("duet::JoinHandle: empty handle (already joined or detached)");
}

}  // namespace duet::detail

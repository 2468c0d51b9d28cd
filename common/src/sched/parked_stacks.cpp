// parked_stacks.cpp: the look at parked fibers behind
// RuntimeConfig::fiber_stack_trim_after (Go's stack shrinking): the fibers
// that have stayed parked that long give back the stack pages below their
// stack pointers.
//
// When: on a worker's housekeeping turn (Scheduler::trim_if_due), from the
// end of a tick while it is busy and from its sleep, which is cut short when
// a look is wanted (Worker::park_timeout); never on a park or a resume, which
// pay nothing for it. A worker that sleeps after running tasks wants a look
// one period later (Worker::park); a look wants the next one when the
// youngest fiber it saw comes of age, and none when it saw none: a quiet
// runtime stops looking.
//
// Which fibers: the runtime's list of tasks that have parked (OwnedTasks:
// every such task is in it), walked under its shard locks. A fiber is taken
// only through its state word, as a dump reads a parked task's frames
// (task/harness.hpp, hold_parked: idle -> RUNNING with a reference): a wake
// meanwhile only sets NOTIFIED, so no worker runs the fiber while its pages
// go, and the hold's end queues it as a run's end would. How long it has
// been parked is its ParkStamp, read under the hold. The pages go outside
// the list's lock, the whole batch in one pass of the stackful module.
#include <array>
#include <cstddef>
#include <cstdint>

#include "duet/detail/stackful_ops.hpp"
#include "duet/memory.hpp"
#include "scheduler.hpp"
#include "task/harness.hpp"

// Weak and undefined here: null unless duet::stackful is linked
// (duet/detail/stackful_ops.hpp, StackMemorySource).
extern "C" {
[[gnu::weak]] DUET_API extern const duet::detail::StackMemorySource duet_stack_memory_source;
}

namespace duet::detail {
namespace {

/// Fibers held at once by one look; the rest wait for the next look, which
/// is then wanted at once.
constexpr std::size_t trim_batch = 256;

/// Whether any fiber holds a stack of its own now (process-wide): without
/// one there is nothing to look for, and a runtime of coroutines alone never
/// walks its list.
bool stacks_in_use() {
  if (&duet_stack_memory_source == nullptr) return false;
  StackMemory m;
  duet_stack_memory_source(m);
  return m.in_use > 0;
}

}  // namespace

void Scheduler::trim_parked_stacks(std::uint64_t now) noexcept {
  bool any = false;
  try {
    any = stacks_in_use();
  } catch (...) {
    any = true;  // the figures could not be read: look anyway
  }
  if (!any) return;
  std::array<TaskHeader*, trim_batch> held;
  std::size_t n = 0;
  // Fibers woken while held for a look that found them too young, to be
  // queued outside the lock (rare: a wake within the hold's few stores).
  std::array<TaskHeader*, 32> woken;
  std::size_t n_woken = 0;
  const StackfulOps* ops = nullptr;
  std::uint64_t next = trim_none;
  owned.for_each([&](TaskHeader* t) {
    const StackfulOps* o = t->vtable->stackful;
    if (o == nullptr || o->trim_parked == nullptr) return;
    if (ops != nullptr && o != ops) {
      next = now;  // another module's fibers: the next look's batch
      return;
    }
    // Relaxed: a first sieve; the hold below decides.
    if (!t->load(std::memory_order_relaxed).is_idle() || !o->may_trim(t)) return;
    if (n == held.size()) {
      next = now;  // more than a batch: look again at the next turn
      return;
    }
    if (!hold_parked(t)) return;
    const ParkStamp p = ParkStamp::load_from(t);
    if (p.tick + trim_after_ticks > now) {
      // Parked too briefly: let it go, and look again when it comes of age.
      if (p.tick + trim_after_ticks < next) next = p.tick + trim_after_ticks;
      if (park_run(t, /*list=*/false)) {
        if (n_woken < woken.size()) {
          woken[n_woken++] = t;
        } else {
          requeue(t);
        }
      }
      return;
    }
    ops = o;
    held[n++] = t;
  });
  if (n > 0) ops->trim_parked(held.data(), n);
  // The holds end as a run's: a fiber woken or cancelled meanwhile is
  // queued, the hold's reference becoming the queue's.
  for (std::size_t i = 0; i < n; ++i) {
    if (park_run(held[i], /*list=*/false)) requeue(held[i]);
  }
  for (std::size_t i = 0; i < n_woken; ++i) requeue(woken[i]);
  if (next != trim_none) want_trim_by(next);
}

}  // namespace duet::detail

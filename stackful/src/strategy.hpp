// strategy.hpp: where a fiber's frames live, per stack strategy: the hooks
// that fiber.cpp's switch code calls, so that no switch path tests the
// strategy itself. A fiber with a stack of its own (pooled, lazy,
// unguarded_unsafe) takes it at its first entry and gives it back when it
// finishes; a copy fiber (copy_stack.hpp) is bound to its worker's shared
// stack, and its bytes are copied in at each entry and out at each exit.
//
// Plain inline functions, not a table of function pointers: a switch (the
// hot path, measured by bench_sched yield_pair/stackful) pays one
// predictable branch on the strategy, not an indirect call.
#pragma once

#include "copy_stack.hpp"
#include "duet/stackful/fiber.hpp"
#include "duet/stackful/stack.hpp"

namespace duet::detail {

/// Whether `f`'s frames stay where they are while it is parked: true for a
/// stack of its own. Only such a fiber may be switched into from another
/// fiber's stack (a hand-off, a join run inline) or hand over from its own:
/// a copy fiber's bytes are copied in and out by the worker.
inline bool frames_stay_put(const FiberBase* f) noexcept {
  return f->strategy != StackStrategy::copy;
}

/// The lowest address `f`'s frames may use: [frames_bottom, frames_top).
inline char* frames_bottom(const FiberBase* f) noexcept {
  return frames_stay_put(f) ? f->stack.bottom() : f->copy.shared->mem.bottom();
}

/// The worker, before a jump into `f`: false when it cannot run now (a
/// copy fiber whose shared stack another worker is using; it is retried).
inline bool stack_enter(FiberBase* f) noexcept {
  return frames_stay_put(f) || copy_enter(f);
}

/// After `f` switched out (to the worker or to another fiber): a copy
/// fiber's bytes go out to its buffer (its binding too, once finished); a
/// finished fiber with a stack of its own gives the stack back to the
/// running thread's cache (counted already when it published its finish
/// before its last switch).
inline void stack_leave(FiberBase* f) noexcept {
  if (!frames_stay_put(f)) {
    copy_leave(f);
    return;
  }
  if (!f->finished) return;
  if (f->stack_counted) {
    stack_recycle(f->stack);
  } else {
    stack_release(f->stack);
  }
  f->stack = Stack{};
}

}  // namespace duet::detail

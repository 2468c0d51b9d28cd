// copy_stack.hpp: copy fibers ("shared stack", the libco/libaco technique).
//
// A copy fiber has no stack of its own. At its first run it is bound to the
// shared stack of the worker that runs it, and it always runs on that stack:
// its frames hold absolute addresses (return addresses, saved frame
// pointers, pointers to locals), so its bytes must go back to the addresses
// they came from. When it suspends, the worker copies the bytes it uses,
// [saved sp, top), into a right-sized heap buffer; when it resumes (on any
// worker) they are copied back first.
//
//   worker W                              shared stack of W
//   enter(f): lock S; copy f->saved  -->  [f->ctx, top)
//             jump into f ... f suspends
//             copy [f->ctx, top)     -->  f->saved; unlock S
//
// One fiber runs on a shared stack at a time (`busy`). A copy fiber that
// another worker stole, or that was woken there, can run only when its
// stack is free: when it is busy, the run ends at once as a yield and the
// fiber goes to the back of the queue. The stack is reference counted
// (its worker thread + every fiber bound to it), so fibers cancelled after
// their worker exited (at shutdown) still find it.
//
// The rule for users (fiber.hpp): while a copy fiber is suspended nothing
// outside it may point into its stack: the addresses belong to whichever
// fiber runs on the shared stack next.
#pragma once

#include <atomic>
#include <cstdint>

#include "duet/stackful/fiber.hpp"
#include "duet/stackful/stack.hpp"

namespace duet::detail {

struct SharedStack {
  explicit SharedStack(Stack s) noexcept : mem(s) {}
  ~SharedStack() { stack_unmap(mem); }
  SharedStack(const SharedStack&) = delete;
  SharedStack& operator=(const SharedStack&) = delete;

  Stack mem;
  /// A fiber runs on the stack. Acquire on lock / release on unlock: the
  /// bytes the last user copied out (and its frames) are visible to the
  /// next one.
  std::atomic<bool> busy{false};
  /// References: the owning thread, and each fiber bound to it. AcqRel on
  /// the decrement so that the last owner sees every use before unmapping.
  std::atomic<std::uint32_t> refs{1};
};

void shared_stack_unref(SharedStack* s) noexcept;

/// Binds `f` to the calling thread's shared stack if it is not bound yet,
/// then takes the stack and copies the fiber's bytes in. False when the
/// stack is busy (the caller tries again later).
bool copy_enter(FiberBase* f) noexcept;
/// After `f` switched out: copies its bytes out (unless it finished) and
/// frees the stack. A finished fiber drops its binding and buffer.
void copy_leave(FiberBase* f) noexcept;
/// Frees a copy fiber's buffer and binding (task destruction).
void copy_release(FiberBase* f) noexcept;

}  // namespace duet::detail

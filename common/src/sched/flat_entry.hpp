// flat_entry.hpp (private): the worker loop's flat entry into a stackful
// task, the jump that enters the task's switch routine from the loop's
// own frame. The switch itself (saving and restoring a context) is the
// stackful module's (stackful/src/switch.hpp), reached through the task's
// operations table (duet/detail/stackful_ops.hpp: flat_enter says where to
// jump, flat_entered finishes the run); this header holds only the jump,
// which must be inlined into the loop's frame to do its work.
//
// The worker loop jumps into a fiber from its own frame (worker.cpp's
// run_in_loop, inlined into run_task, itself inlined into Worker::run).
//
// Why: a call pushes its return address on the CPU's return stack and a
// `ret` pops it as its prediction, and a stack switch breaks the pairing.
// Entered through `run` (a call into the fiber's run, then a call into the
// switch), the loop returned through those frames after the fiber switched
// back, while the return stack held the fiber's park frames; and the fiber,
// resumed, returned through its park frames while the return stack held
// the loop's: about three mispredicted returns on each side of each switch
// (docs/performance-log.md, the flat entry).
//
// Entered from here instead, the loop never returns through anything after
// a switch: the statement below is where it resumes, in the loop's own
// frame, by an indirect jump (the fiber's side jumps to the pushed label,
// popping nothing). A parked fiber is resumed by the routine's `ret`, which
// pops the address that the last fiber to park pushed when it called the
// switch (the same call site for every park), and its returns up through
// its park's frames pop the rest of that fiber's frames: the same shape,
// predicted up to the user's code. What the loop does in between (a
// coroutine's resume, its own calls) is balanced and leaves them there.
// The fiber side of each entry and exit is stackful/src/switch.hpp's
// entry-by-exit table (rows "the worker loop").
//
// To the compiler the statement is a call: the callee-saved registers come
// back (whoever resumes the loop restores them from the frame the routine
// saved), every other register is clobbered. It steps over the red zone
// first. x86-64 System V only; elsewhere no vtable has a flat entry. Under
// TSan the loop switches TSan's fiber right before the jump
// (FlatEntry::tsan_fiber, duet/detail/stackful_ops.hpp).

#pragma once

#include "duet/detail/stackful_ops.hpp"
#ifdef DUET_FLAT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace duet::detail {

#if defined(__x86_64__) && defined(__ELF__)
/// Jumps to `e.routine` with the resume address pushed where a call would
/// push it; returns what the context that resumes the loop passes.
[[gnu::always_inline]] inline FlatTransfer flat_jump(FlatEntry e) noexcept {
  void* ctx;
  void* data;
  void* to = e.ctx;
  void* arg = nullptr;
  void (*routine)() = e.routine;
  asm volatile(
      "leaq -128(%%rsp), %%rsp\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "jmp *%%rcx\n\t"
      "1:\n\t"
      "leaq 128(%%rsp), %%rsp"
      : "=a"(ctx), "=d"(data), "+D"(to), "+S"(arg), "+c"(routine)
      :
      : "r8", "r9", "r10", "r11", "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
        "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st",
        "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
  return FlatTransfer{ctx, data};
}

/// Enters `e` (a flat entry with a context) by the jump, TSan's fiber
/// switched first where TSan runs; returns what the context that resumes
/// the loop passes.
[[gnu::always_inline]] inline FlatTransfer enter_flat(FlatEntry e) noexcept {
#ifdef DUET_FLAT_TSAN
  __tsan_switch_to_fiber(e.tsan_fiber, 0);
#endif
  return flat_jump(e);
}
#define DUET_FLAT_JUMP 1
#endif

}  // namespace duet::detail

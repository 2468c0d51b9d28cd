// switch.cpp: duet_jump_fcontext, the x86-64 System V stack switch
// (switch.hpp says why it is not Boost's own). The instructions are Boost
// 1.74's jump_fcontext (jump_x86_64_sysv_elf_gas.S) but for the last one,
// so that contexts made by make_fcontext and by it are interchangeable:
//   frame at the saved sp: [0] MXCSR, [4] x87 control word, [8..0x30] r12,
//   r13, r14, r15, rbx, rbp, [0x38] the return address.
// On resume it returns {the context it left, data} in rax:rdx (a function
// entered for the first time gets them in rdi:rsi from make_fcontext's
// trampoline). Hidden: called directly, not through a PLT.
//
// The one difference: it resumes with `ret` where Boost jumps through r8.
// A switch is entered by a call, so a `ret` keeps the CPU's return stack
// buffer in step: the context it resumes was left by a call from the same
// switch code (jump_to_fiber, jump_to_thread, enter), so the return is
// predicted, and so are the returns after it up the resumed fiber's
// frames. With Boost's jump the call's entry was never popped, and every
// return of the resumed side was predicted one frame off
// (docs/performance-log.md, the switch entries).
// The final rsp is Boost's (the slot at 0x38 popped), and a first entry
// returns into make_fcontext's trampoline exactly as Boost's jump does.
//
// duet_exit_fcontext is a finished fiber's last switch (exit_to in
// switch.hpp): the second half of the jump alone (nothing is saved: the
// stack is abandoned), entered by a `jmp` from the fiber's entry frame and
// leaving by `jmp *%r8`, so that it neither pushes nor pops the return
// stack. The side it resumes then finds that stack as it left it when it
// entered the fiber, less the one entry the fiber's first entry consumed
// (its `ret` into the trampoline): exactly its own frames, in the common
// case of a fiber that ran to its end without parking (spawn + join, the
// join hand-off). With the jump's `call` and `ret` the last return landed
// where the finished fiber's call predicted it (its own switch code, never
// the resumed side's) and was mispredicted every time. The indirect jump
// goes where this site went last time, which spawn + join repeats.
//
// duet_fcontext_trampoline is where a new context's first jump returns to
// (make_context_at in switch.hpp writes its frame): Boost's trampoline
// pushes the address of a routine that calls _exit(0) as the entry
// function's return address and jumps to it through rbx. Here the pushed
// address is the trampoline's own `ud2`: duet's fiber entry never returns,
// and if it did, a fault is the right outcome, not a silent exit. rbp is 0
// on entry (make_context_at), which ends a frame-pointer walk.
//
// Unwinding (the .cfi directives): each routine says where the return
// address and the saved registers are at each instruction, on either
// stack (both frames have the same layout), so that a debugger stopped
// inside a switch, or a profiler sampling one, walks out of it. The
// trampoline is every fiber's outermost frame: its return address is
// undefined, which ends a walk there (gdb's `bt`, backtrace(3), a C++
// exception's search) with the trampoline named, not at a zero address.
//
// CET: a switch leaves by `ret` or an indirect jump onto another stack,
// which a shadow stack would refuse and IBT would fault on (no endbr64 at
// the targets). switch.cpp is compiled with -fcf-protection=none
// (stackful/CMakeLists.txt), so that its object claims neither feature and
// a program that links the switch is never run with them enabled, even
// where the toolchain turns them on for everything (docs/stackful.md,
// "The platform").
#include "switch.hpp"

#include <cstdio>
#include <cstdlib>

namespace duet::detail {
namespace {
const char* path_name(ReturnPath p) noexcept {
  switch (p) {
    case ReturnPath::ret:
      return "ret";
    case ReturnPath::ret_owed:
      return "ret_owed";
    case ReturnPath::jmp:
      return "jmp";
  }
  return "?";
}
const char* exit_name(SwitchExit e) noexcept {
  switch (e) {
    case SwitchExit::jump_to:
      return "jump_to";
    case SwitchExit::jump_to_loop:
      return "jump_by_jmp to the loop";
    case SwitchExit::exit_to:
      return "exit_to";
    case SwitchExit::exit_to_caller:
      return "exit_to_caller";
    case SwitchExit::hand_off:
      return "a hand-off";
  }
  return "?";
}
}  // namespace

void switch_pairing_failed(ReturnPath recorded, ReturnPath truth, SwitchExit e) noexcept {
  std::fprintf(stderr,
               "duet: fiber switch pairing: the fiber's path is %s, the side entered it on %s, "
               "and it leaves by %s (stackful/src/switch.hpp, the entry-by-exit table)\n",
               path_name(recorded), path_name(truth), exit_name(e));
  std::abort();
}

}  // namespace duet::detail

#ifdef DUET_OWN_SWITCH
namespace duet::detail {

constinit DUET_TLS std::uint64_t tl_fp_words = 0;

std::uint64_t read_fp_words() noexcept {
  std::uint32_t mxcsr = 0;
  std::uint16_t cw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(cw));
  mxcsr &= ~std::uint32_t{0x3f};  // the sticky exception flags are not a mode
  tl_fp_words = mxcsr | (std::uint64_t{cw} << 32);
  return tl_fp_words;
}

}  // namespace duet::detail

// Each routine once: its symbol, its unwind information, its body.
#define DUET_ASM_FUNCTION(name, body)                                                     \
  ".pushsection .text\n.globl " name "\n.hidden " name "\n.type " name                    \
  ",@function\n"                                                                          \
  ".align 16\n" name ":\n .cfi_startproc\n" body " .cfi_endproc\n.size " name ", .-" name \
  "\n.popsection\n"
// Where a saved frame keeps what the unwinder needs, relative to the CFA
// (the frame's top, sp + 0x40): the return address at 0x38, the registers
// at 0x8..0x30. Said again after each switch of stacks: the other stack's
// frame has the same layout.
#define DUET_CFI_FRAME                                                             \
  " .cfi_def_cfa %rsp, 0x40\n .cfi_offset %rip, -0x8\n .cfi_offset %r12, -0x38\n"  \
  " .cfi_offset %r13, -0x30\n .cfi_offset %r14, -0x28\n .cfi_offset %r15, -0x20\n" \
  " .cfi_offset %rbx, -0x18\n .cfi_offset %rbp, -0x10\n"
// The running context's frame, pushed under the return address: the
// control words and the callee-saved registers.
#define DUET_SAVE_FRAME                                                     \
  " leaq -0x38(%rsp), %rsp\n .cfi_def_cfa_offset 0x40\n"                    \
  " stmxcsr (%rsp)\n fnstcw 0x4(%rsp)\n"                                    \
  " movq %r12, 0x8(%rsp)\n movq %r13, 0x10(%rsp)\n movq %r14, 0x18(%rsp)\n" \
  " movq %r15, 0x20(%rsp)\n movq %rbx, 0x28(%rsp)\n movq %rbp, 0x30(%rsp)\n" DUET_CFI_FRAME
// The context left in rax, the one in rdi loaded (its return address is
// still on its stack, at 0x38); the registers then hold the resumed
// side's values.
#define DUET_LOAD_FRAME                                                              \
  " movq %rsp, %rax\n movq %rdi, %rsp\n" DUET_CFI_FRAME                              \
  " ldmxcsr (%rsp)\n fldcw 0x4(%rsp)\n"                                              \
  " movq 0x8(%rsp), %r12\n movq 0x10(%rsp), %r13\n movq 0x18(%rsp), %r14\n"          \
  " movq 0x20(%rsp), %r15\n movq 0x28(%rsp), %rbx\n movq 0x30(%rsp), %rbp\n"         \
  " .cfi_restore %r12\n .cfi_restore %r13\n .cfi_restore %r14\n .cfi_restore %r15\n" \
  " .cfi_restore %rbx\n .cfi_restore %rbp\n"
// Entered by a jump from a frame the routine knows nothing of (a finished
// fiber's entry frame): no caller to unwind into until the stacks switch.
#define DUET_CFI_NO_CALLER " .cfi_undefined %rip\n"

// The entry function's return address is the `ud2` after the jump; the
// trampoline's own return address is undefined: the outermost frame.
asm(DUET_ASM_FUNCTION("duet_fcontext_trampoline", DUET_CFI_NO_CALLER
                      " leaq 1f(%rip), %rax\n push %rax\n jmp *%rbx\n1:\n ud2\n"));

// The loaded context resumed by `ret`: the return address at 0x38 popped.
#define DUET_RETURN_INTO                                                 \
  " leaq 0x38(%rsp), %rsp\n .cfi_def_cfa_offset 0x8\n movq %rsi, %rdx\n" \
  " movq %rax, %rdi\n ret\n"

asm(DUET_ASM_FUNCTION("duet_jump_fcontext", DUET_SAVE_FRAME DUET_LOAD_FRAME DUET_RETURN_INTO));

// duet_exit_fcontext_ret: duet_exit_fcontext ending in duet_jump_fcontext's
// `ret`, for a fiber whose enterer's call is still the top of the return
// stack (exit_to_caller in switch.hpp): the return is then predicted.
asm(DUET_ASM_FUNCTION("duet_exit_fcontext_ret",
                      DUET_CFI_NO_CALLER DUET_LOAD_FRAME DUET_RETURN_INTO));

// duet_jump_fcontext_jmp: duet_jump_fcontext that resumes `to` by
// `jmp *%r8` (through duet_exit_fcontext's second half), for a fiber that
// switches back to the worker loop's frame and for the loop's jump into a
// fiber that never ran (flat_jump in common/src/sched/flat_entry.hpp): neither
// pops the return stack.
asm(DUET_ASM_FUNCTION("duet_jump_fcontext_jmp", DUET_SAVE_FRAME " jmp duet_exit_fcontext\n"));

// After the frame is popped, the return address is still in memory just
// under the stack pointer: the resumed side's CFA is the stack pointer.
asm(DUET_ASM_FUNCTION("duet_exit_fcontext", DUET_CFI_NO_CALLER DUET_LOAD_FRAME
                      " movq 0x38(%rsp), %r8\n leaq 0x40(%rsp), %rsp\n .cfi_def_cfa_offset 0\n"
                      " movq %rsi, %rdx\n movq %rax, %rdi\n jmp *%r8\n"));
#endif

// switch.hpp: the stack switch every fiber switch makes (jump_to), and
// the first context of a fiber (make_context_at). Boost 1.74's
// jump_fcontext and make_fcontext, or on x86-64 System V equivalents linked
// into the binary (switch.cpp), reached by a direct call instead of through
// the PLT of libboost_context; the jump resumes with a `ret` (switch.cpp:
// the return predictions). Same context layout (Boost's contexts are
// entered by either jump), same saved state: rbx, rbp, r12-r15, the x87
// control word and MXCSR (callee-saved in the ABI: a fiber that changes
// the rounding mode keeps it to itself).
//
// The one difference is where a new context's control words come from.
// Boost's make_fcontext reads the CPU's (stmxcsr, fnstcw) when the context
// is made, and a fiber's context is made at its first run, which can be a
// hand-off from another fiber: a fiber in upward rounding that spawned and
// joined a child, or yielded to a new sibling, passed its mode on to them,
// against the promise above (tests/stackful/fp_env_test.cpp failed with
// it). make_context_at copies the thread's words as it read them once, at
// the thread's first fiber context, with MXCSR's sticky exception flags
// cleared. A fiber therefore starts with the rounding mode, exception masks
// and FTZ/DAZ its worker thread had when it started its first fiber (the
// runtime creator's, which threads inherit, unless a task changed the
// thread's words before), whoever runs when it starts. It also saves a
// call through libboost_context's PLT and the two control-register reads
// per fiber; alternating A/B of exp_lab_duet spawn_seq --backend fiber on
// the 2-vCPU EPYC VM showed no difference beyond the noise (100.6-106.8 ns
// before, 100.2-105.7 after, six runs each).
#pragma once

#include <boost/context/detail/fcontext.hpp>
#include <cstddef>
#include <cstdint>

#include "duet/detail/tls.hpp"

namespace duet::detail {

using FiberEntryFn = void (*)(boost::context::detail::transfer_t);

#if defined(__x86_64__) && defined(__ELF__) && !defined(_WIN32)
#define DUET_OWN_SWITCH 1
extern "C" boost::context::detail::transfer_t duet_jump_fcontext(
    boost::context::detail::fcontext_t to, void* data) noexcept;
/// Saves the running context on its stack and resumes `to`, which receives
/// {the saved context, data}.
inline boost::context::detail::transfer_t jump_to(boost::context::detail::fcontext_t to,
                                                  void* data) noexcept {
  return duet_jump_fcontext(to, data);
}

extern "C" [[noreturn]] void duet_exit_fcontext(boost::context::detail::fcontext_t to,
                                                void* data) noexcept;
/// A finished fiber's last switch: resumes `to`, which receives {the
/// abandoned context, data}, saving nothing. Entered by a jump, not a
/// call, and it resumes `to` by an indirect jump, not a `ret`: the CPU's
/// return stack is left as it was (switch.cpp says why). Inline, so that
/// the jump leaves from the caller's frame: call it from the fiber's entry
/// frame, with no frame of a callee still live, or the returns of the side
/// resumed are predicted one frame off.
[[gnu::always_inline, noreturn]] inline void exit_to(boost::context::detail::fcontext_t to,
                                                     void* data) noexcept {
  asm volatile("jmp duet_exit_fcontext" : : "D"(to), "S"(data) : "memory");
  __builtin_unreachable();
}

extern "C" boost::context::detail::transfer_t duet_jump_fcontext_jmp(
    boost::context::detail::fcontext_t to, void* data) noexcept;
/// jump_to for a fiber that switches back to the worker loop's own frame
/// (common/src/sched/flat_jump.hpp): the same save and restore, but `to` is
/// resumed by an indirect jump, not a `ret`, which leaves the fiber's frames
/// on the CPU's return stack for the next fiber the loop resumes (switch.cpp).
inline boost::context::detail::transfer_t jump_to_loop(boost::context::detail::fcontext_t to,
                                                       void* data) noexcept {
  return duet_jump_fcontext_jmp(to, data);
}
/// The loop's flat entry routines: a parked fiber is resumed by `ret`
/// (duet_jump_fcontext), one that never ran by an indirect jump into its
/// trampoline (duet_jump_fcontext_jmp). Both are entered by a jump with the
/// loop's resume address pushed, which to them is a call.
inline void (*flat_routine(bool first))() {
  return first ? reinterpret_cast<void (*)()>(&duet_jump_fcontext_jmp)
               : reinterpret_cast<void (*)()>(&duet_jump_fcontext);
}

/// A call's entry into a context that never ran (enter, for the join
/// hand-off): jump_to, but the context's trampoline is reached by an
/// indirect jump, so the call's return address stays the top of the CPU's
/// return stack, where a `ret` into it was mispredicted (the trampoline
/// is not where the call returns). The fiber pays that entry back by
/// leaving with exit_to_caller when it never switched out in between.
inline boost::context::detail::transfer_t jump_to_fresh(boost::context::detail::fcontext_t to,
                                                        void* data) noexcept {
  return duet_jump_fcontext_jmp(to, data);
}

extern "C" [[noreturn]] void duet_exit_fcontext_ret(boost::context::detail::fcontext_t to,
                                                    void* data) noexcept;
/// exit_to for a fiber entered by jump_to_fresh that never switched out
/// since: `to` (the enterer, whose call is the top of the return stack) is
/// resumed by a `ret`, which that entry predicts. A spawn+join then
/// mispredicts no return at all (exit_to's indirect jump leaves the entry
/// on the stack, and the enterer's next return takes it).
[[gnu::always_inline, noreturn]] inline void exit_to_caller(boost::context::detail::fcontext_t to,
                                                            void* data) noexcept {
  asm volatile("jmp duet_exit_fcontext_ret" : : "D"(to), "S"(data) : "memory");
  __builtin_unreachable();
}

/// The first frame a fiber is entered through (switch.cpp): pushes the
/// saved rbp (0, so that backtraces end and a return from the entry
/// function faults) as the entry function's return address, then jumps to
/// it through rbx.
extern "C" void duet_fcontext_trampoline() noexcept;

/// Whether `ctx` (from make_context_at) was never entered: its first jump
/// would still return into the trampoline.
inline bool context_is_fresh(boost::context::detail::fcontext_t ctx) noexcept {
  return static_cast<void**>(ctx)[7] == reinterpret_cast<void*>(&duet_fcontext_trampoline);
}

/// The calling thread's control words for new contexts, MXCSR in the low
/// half, the x87 control word in the high half; 0 until the first context
/// (the x87 word always has bit 6 set, so a read value is never 0).
extern constinit DUET_TLS std::uint64_t tl_fp_words;
[[gnu::cold]] std::uint64_t read_fp_words() noexcept;

/// A context that enters `fn` on the stack below `top` at its first jump,
/// laid out as Boost's make_fcontext lays it out (its frame, 0x40 bytes
/// under `top` rounded down to 16): [0] MXCSR, [4] x87 control word,
/// [0x28] rbx = fn, [0x30] rbp = 0, [0x38] return address = the trampoline.
/// Registers r12-r15 start as whatever the stack held.
inline boost::context::detail::fcontext_t make_context_at(char* top, std::size_t /*size*/,
                                                          FiberEntryFn fn) noexcept {
  std::uint64_t words = tl_fp_words;
  if (words == 0) [[unlikely]]
    words = read_fp_words();
  const auto base = (reinterpret_cast<std::uintptr_t>(top) & ~std::uintptr_t{15}) - 0x40;
  auto* frame = reinterpret_cast<std::uint64_t*>(base);
  frame[0] = words;
  frame[5] = reinterpret_cast<std::uint64_t>(fn);
  frame[6] = 0;
  frame[7] = reinterpret_cast<std::uint64_t>(&duet_fcontext_trampoline);
  return reinterpret_cast<boost::context::detail::fcontext_t>(base);
}
#else
inline boost::context::detail::transfer_t jump_to(boost::context::detail::fcontext_t to,
                                                  void* data) noexcept {
  return boost::context::detail::jump_fcontext(to, data);
}
inline boost::context::detail::fcontext_t make_context_at(char* top, std::size_t size,
                                                          FiberEntryFn fn) noexcept {
  return boost::context::detail::make_fcontext(top, size, fn);
}
[[noreturn]] inline void exit_to(boost::context::detail::fcontext_t to, void* data) noexcept {
  boost::context::detail::jump_fcontext(to, data);
  __builtin_unreachable();  // nobody resumes a finished fiber
}
inline boost::context::detail::transfer_t jump_to_loop(boost::context::detail::fcontext_t to,
                                                       void* data) noexcept {
  return boost::context::detail::jump_fcontext(to, data);  // no flat entry here: never called
}
// Boost's contexts: no fresh entry by a jump, so no exit that owes a return.
inline bool context_is_fresh(boost::context::detail::fcontext_t) noexcept {
  return false;
}
inline boost::context::detail::transfer_t jump_to_fresh(boost::context::detail::fcontext_t to,
                                                        void* data) noexcept {
  return boost::context::detail::jump_fcontext(to, data);
}
[[noreturn]] inline void exit_to_caller(boost::context::detail::fcontext_t to,
                                        void* data) noexcept {
  exit_to(to, data);
}
#endif

}  // namespace duet::detail

// switch.hpp: the stack switch every fiber switch makes (jump_to), the
// first context of a fiber (make_context_at), which entry pairs with which
// exit (the switch protocol), the thread's side of a switch (ThreadSide),
// and the sanitizers' annotations every switch carries (the last section).
// The switch and the first context are Boost 1.74's jump_fcontext and
// make_fcontext, or on x86-64 System V equivalents linked into the binary
// (switch.cpp), reached by a direct call instead of through the PLT of
// libboost_context; the jump resumes with a `ret` (switch.cpp: the return
// predictions). Same context layout (Boost's contexts are entered by either
// jump), same saved state: rbx, rbp, r12-r15, the x87 control word and
// MXCSR (callee-saved in the ABI: a fiber that changes the rounding mode
// keeps it to itself).
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
// per fiber (docs/performance-log.md, the switch entries).
//
// ---- The switch protocol: which entry pairs with which exit ---------------
//
// A call pushes its return address on the CPU's return stack and a `ret`
// pops it as its prediction; a stack switch breaks that pairing unless each
// way into a fiber's run is left by the matching way out. A wrong pair still
// resumes the right address (every routine does), it only mispredicts
// returns, so no test would see it: the pairing is therefore recorded, not
// left to each caller. Each entry writes its row into the fiber
// (FiberBase::path, a ReturnPath), each exit is chosen from it, and builds
// with DUET_CHECK_TRANSITIONS check every exit against how the thread side
// really entered (check_exit below: a wrong pair aborts, naming itself).
//
//   entry (caller: wrapper -> routine)           path       park/yield to       finish to
//                                                           the side            the side
//   enter(), a parked context:                   ret        jump_to             exit_to
//     jump_to -> duet_jump_fcontext (ret)
//   enter(), a fresh context:                    ret_owed   jump_to             exit_to_caller
//     jump_by_jmp -> duet_jump_fcontext_jmp
//   the worker loop (flat_jump), parked:         jmp        jump_by_jmp         exit_to
//     flat_routine -> duet_jump_fcontext (ret)
//   the worker loop, fresh:                      jmp        jump_by_jmp         exit_to
//     flat_routine -> duet_jump_fcontext_jmp
//   a hand-off from a fiber of the chain:        jmp (*)    jump_by_jmp         exit_to
//     jump_to (the leaver parks) or exit_to (it finishes)
//
//   routines (switch.cpp):  duet_jump_fcontext      save, resume by `ret`
//                           duet_jump_fcontext_jmp  save, resume by `jmp`
//                           duet_exit_fcontext      no save, resume by `jmp`  (exit_to)
//                           duet_exit_fcontext_ret  no save, resume by `ret`  (exit_to_caller)
//
// ret_owed: the enterer's call is the top of the return stack until the
// fiber first switches out; a fiber that finishes before that pays it back
// with exit_to_caller's `ret`. Any switch out spends it: the next entry
// writes the fiber's path again.
// (*) hand_off_path. Hand-offs happen only in a chain the loop entered
// flat: a fiber entered by enter() runs inside its joiner's poll, is a copy
// fiber or is being unwound, and none of those hands off (fiber.cpp). Where
// there is no flat entry (no DUET_OWN_SWITCH), every path is `ret`.
#pragma once

#include <boost/context/detail/fcontext.hpp>
#include <cstddef>
#include <cstdint>

#include "duet/detail/thread_local.hpp"
#include "duet/stackful/fiber.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define DUET_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DUET_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define DUET_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DUET_TSAN 1
#endif
#endif

#ifdef DUET_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define DUET_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define DUET_NO_SANITIZE_ADDRESS
#endif
#ifdef DUET_TSAN
#include <sanitizer/tsan_interface.h>
#endif

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
/// jump_to, but `to` is resumed by an indirect jump, not a `ret`, which
/// leaves the return stack as it is: a fiber's park back to the worker
/// loop's own frame (path jmp), and enter()'s entry into a context that
/// never ran (path ret_owed: the call's return address stays the top of the
/// return stack, where a `ret` into the trampoline was mispredicted).
inline boost::context::detail::transfer_t jump_by_jmp(boost::context::detail::fcontext_t to,
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

extern "C" [[noreturn]] void duet_exit_fcontext_ret(boost::context::detail::fcontext_t to,
                                                    void* data) noexcept;
/// exit_to for a fiber on path ret_owed (entered fresh by enter(), never
/// switched out since): `to` (the enterer, whose call is the top of the return stack) is
/// resumed by a `ret`, which that entry predicts. A spawn+join then
/// mispredicts no return at all (exit_to's indirect jump leaves the entry
/// on the stack, and the enterer's next return takes it).
[[gnu::always_inline, noreturn]] inline void exit_to_caller(boost::context::detail::fcontext_t to,
                                                            void* data) noexcept {
  asm volatile("jmp duet_exit_fcontext_ret" : : "D"(to), "S"(data) : "memory");
  __builtin_unreachable();
}

/// The first frame a fiber is entered through (switch.cpp): pushes the
/// address of its own `ud2` as the entry function's return address (a
/// return from the entry function faults; an unwinder ends there, at the
/// fiber's outermost frame), then jumps to it through rbx.
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
// Boost's contexts: no fresh entry by a jump (so no path ret_owed) and no
// flat entry (so no path jmp): jump_by_jmp is never called.
inline boost::context::detail::transfer_t jump_by_jmp(boost::context::detail::fcontext_t to,
                                                      void* data) noexcept {
  return boost::context::detail::jump_fcontext(to, data);
}
inline bool context_is_fresh(boost::context::detail::fcontext_t) noexcept {
  return false;
}
[[noreturn]] inline void exit_to_caller(boost::context::detail::fcontext_t to,
                                        void* data) noexcept {
  exit_to(to, data);
}
#endif

#ifdef DUET_OWN_SWITCH
inline constexpr ReturnPath hand_off_path = ReturnPath::jmp;
#else
inline constexpr ReturnPath hand_off_path = ReturnPath::ret;
#endif

/// What belongs to the thread that runs fibers rather than to a fiber: the
/// context a fiber returns to (the worker loop, or a thread that cancels),
/// the sanitizers' view of that thread's stack (san:: below), and, in
/// builds with DUET_CHECK_TRANSITIONS, how it entered the chain it runs
/// (the truth check_exit holds each fiber's path against). fiber.cpp keeps
/// one per thread; a fiber may resume on another thread than the one it
/// left, so it reads it afresh after every switch.
struct ThreadSide {
  void* ctx = nullptr;
  void* asan_thread_fake = nullptr;  // ASan: the thread's fake stack across a flat entry
  const void* asan_bottom = nullptr;
  std::size_t asan_size = 0;
  void* tsan_fiber = nullptr;
  ReturnPath entry = ReturnPath::ret;  // checked builds: the entry's row
  const FiberBase* owed_by = nullptr;  // checked builds: the fiber on ret_owed
};

/// The table's exits (for the check and its message).
enum class SwitchExit : std::uint8_t {
  jump_to,         // park or yield back to a side entered by a call
  jump_to_loop,    // park or yield back to the loop's frame (jump_by_jmp)
  exit_to,         // finish, back to the side
  exit_to_caller,  // finish on ret_owed
  hand_off,        // park, yield or finish into the next fiber of the chain
};

/// The table: whether `e` is an exit of a run entered on `p`.
constexpr bool pairs(ReturnPath p, SwitchExit e) noexcept {
  switch (e) {
    case SwitchExit::jump_to:
      return p == ReturnPath::ret || p == ReturnPath::ret_owed;
    case SwitchExit::jump_to_loop:
      return p == ReturnPath::jmp;
    case SwitchExit::exit_to:
      return p == ReturnPath::ret || p == ReturnPath::jmp;
    case SwitchExit::exit_to_caller:
      return p == ReturnPath::ret_owed;
    case SwitchExit::hand_off:
      return p == hand_off_path;
  }
  return false;
}

/// Aborts, naming the fiber's recorded path, the side's true one and the
/// exit taken (switch.cpp).
[[noreturn, gnu::cold]] void switch_pairing_failed(ReturnPath recorded, ReturnPath truth,
                                                   SwitchExit e) noexcept;

/// An entry into `f`'s run by the thread side (enter, the flat entry), after
/// f->path is written: checked builds record the truth.
inline void note_entry(ThreadSide& side, const FiberBase* f) noexcept {
#if DUET_CHECK_TRANSITIONS
  side.entry = f->path;
  side.owed_by = f->path == ReturnPath::ret_owed ? f : nullptr;
#else
  (void)side;
  (void)f;
#endif
}

/// Before `f` leaves its run by `e`: checked builds abort unless f's
/// recorded path is the side's true one and `e` is that path's exit.
inline void check_exit(const FiberBase* f, ThreadSide& side, SwitchExit e) noexcept {
#if DUET_CHECK_TRANSITIONS
  ReturnPath truth = side.entry;
  if (truth == ReturnPath::ret_owed && side.owed_by != f) truth = ReturnPath::ret;
  if (f->path != truth || !pairs(truth, e)) switch_pairing_failed(f->path, truth, e);
  if (side.owed_by == f) side.owed_by = nullptr;  // a switch out spends the owed return
#else
  (void)f;
  (void)side;
  (void)e;
#endif
}

}  // namespace duet::detail

// ---- The sanitizers' annotations of every switch --------------------------
//
// ASan and TSan must be told of every stack switch to follow it (Boost's
// fcontext has none of its own). Each hook is empty in a plain build.
//
//   thread -> fiber:  enter_begin(f, &fake, side)  jump  enter_end(fake)
//   fiber -> thread:  leave_begin(f, dying, side)  jump  leave_end(f, side)   (in the fiber)
//   first entry:      leave_end(f, side) at the top of the entry function
//   fiber f -> fiber g (direct hand-off on one worker):
//                     hand_off_begin(f, g, dying)  jump  hand_off_end(g)
// The thread's half (the stack it returns to) is its ThreadSide.

namespace duet::detail::san {

inline void create(FiberBase* f) noexcept {
#ifdef DUET_TSAN
  f->tsan_fiber = __tsan_create_fiber(0);
#else
  (void)f;
#endif
}

inline void destroy(FiberBase* f) noexcept {
#ifdef DUET_TSAN
  if (f->tsan_fiber != nullptr) __tsan_destroy_fiber(f->tsan_fiber);
  f->tsan_fiber = nullptr;
#else
  (void)f;
#endif
}

/// Clears ASan's poison over a stack range that no live frame uses.
inline void unpoison(const void* p, std::size_t n) noexcept {
#ifdef DUET_ASAN
  __asan_unpoison_memory_region(p, n);
#else
  (void)p;
  (void)n;
#endif
}

/// On the thread, before the jump into the fiber, which runs on the stack
/// [bottom, bottom + size): all but TSan's switch. The worker loop's flat
/// entry calls this alone and switches TSan itself, right before its jump
/// (FlatEntry::tsan_fiber says why).
inline void enter_begin_flat(FiberBase* f, void** fake, const void* bottom, std::size_t size,
                             ThreadSide& side) noexcept {
#ifdef DUET_ASAN
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake;
  (void)bottom;
  (void)size;
#endif
#ifdef DUET_TSAN
  side.tsan_fiber = __tsan_get_current_fiber();
#endif
  (void)f;
  (void)side;
}

/// On the thread, just before jumping into the fiber (enter).
inline void enter_begin(FiberBase* f, void** fake, const void* bottom, std::size_t size,
                        ThreadSide& side) noexcept {
  enter_begin_flat(f, fake, bottom, size, side);
#ifdef DUET_TSAN
  __tsan_switch_to_fiber(f->tsan_fiber, 0);
#endif
}

/// On the thread, right after a fiber switched back.
inline void enter_end(void* fake) noexcept {
#ifdef DUET_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  (void)fake;
#endif
}

/// On the fiber, just before jumping back to the thread. A dying fiber
/// passes no fake-stack slot, so ASan frees its fake stack.
inline void leave_begin(FiberBase* f, bool dying, const ThreadSide& side) noexcept {
#ifdef DUET_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &f->asan_fake, side.asan_bottom, side.asan_size);
#endif
#ifdef DUET_TSAN
  __tsan_switch_to_fiber(side.tsan_fiber, 0);
#endif
  (void)f;
  (void)dying;
  (void)side;
}

/// On the fiber, right after the thread (re)entered it: learns the
/// thread's stack.
inline void leave_end(FiberBase* f, ThreadSide& side) noexcept {
#ifdef DUET_ASAN
  __sanitizer_finish_switch_fiber(f->asan_fake, &side.asan_bottom, &side.asan_size);
#else
  (void)f;
  (void)side;
#endif
}

/// On fiber f, just before jumping straight into fiber g (whose stack is
/// [bottom, bottom + size)). A dying f passes no fake-stack slot.
inline void hand_off_begin(FiberBase* f, FiberBase* g, bool dying, const void* bottom,
                           std::size_t size) noexcept {
#ifdef DUET_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &f->asan_fake, bottom, size);
#else
  (void)bottom;
  (void)size;
  (void)dying;
#endif
#ifdef DUET_TSAN
  __tsan_switch_to_fiber(g->tsan_fiber, 0);
#endif
  (void)f;
  (void)g;
}

/// On fiber g, right after another fiber jumped into it: the thread's
/// stack is the one the other fiber would have returned to (ThreadSide).
inline void hand_off_end(FiberBase* g) noexcept {
#ifdef DUET_ASAN
  __sanitizer_finish_switch_fiber(g->asan_fake, nullptr, nullptr);
#else
  (void)g;
#endif
}

}  // namespace duet::detail::san

// sanitizer.hpp: the fiber-switch annotations that ASan and TSan need to
// follow a stack switch (Boost's fcontext has none of its own). Each hook is
// empty in a plain build.
//
//   thread -> fiber:  enter_begin(f, &fake, side)  jump  enter_end(fake)
//   fiber -> thread:  leave_begin(f, dying, side)  jump  leave_end(f, side)   (in the fiber)
//   first entry:      leave_end(f, side) at the top of the entry function
//   fiber f -> fiber g (direct hand-off on one worker):
//                     hand_off_begin(f, g, dying)  jump  hand_off_end(g)
// The thread's half (the stack it returns to) is its ThreadSide.
#pragma once

#include "duet/stackful/fiber.hpp"
#include "switch.hpp"

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

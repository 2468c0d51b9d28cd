// sanitizer.hpp: the fiber-switch annotations that ASan and TSan need to
// follow a stack switch (Boost's fcontext has none of its own). Each hook is
// empty in a plain build.
//
//   worker -> fiber:  enter_begin(f, &fake)  jump  enter_end(fake)
//   fiber -> worker:  leave_begin(f, dying)  jump  leave_end(f)   (in the fiber)
//   first entry:      leave_end(f) at the top of the entry function
#pragma once

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

/// On the worker, just before jumping into the fiber, which runs on the
/// stack [bottom, bottom + size).
inline void enter_begin(FiberBase* f, void** fake, const void* bottom, std::size_t size) noexcept {
#ifdef DUET_ASAN
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake;
  (void)bottom;
  (void)size;
#endif
#ifdef DUET_TSAN
  f->tsan_caller = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(f->tsan_fiber, 0);
#endif
  (void)f;
}

/// On the worker, right after the fiber switched back.
inline void enter_end(void* fake) noexcept {
#ifdef DUET_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  (void)fake;
#endif
}

/// On the fiber, just before jumping back to the worker. A dying fiber
/// passes no fake-stack slot, so ASan frees its fake stack.
inline void leave_begin(FiberBase* f, bool dying) noexcept {
#ifdef DUET_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &f->asan_fake, f->caller_bottom, f->caller_size);
#endif
#ifdef DUET_TSAN
  __tsan_switch_to_fiber(f->tsan_caller, 0);
#endif
  (void)f;
  (void)dying;
}

/// On the fiber, right after it was (re)entered: learns the worker's stack.
inline void leave_end(FiberBase* f) noexcept {
#ifdef DUET_ASAN
  __sanitizer_finish_switch_fiber(f->asan_fake, &f->caller_bottom, &f->caller_size);
#else
  (void)f;
#endif
}

}  // namespace duet::detail::san

// duet/detail/thread_local.hpp: thread-locals on the hot path, in the TLS
// model the library was built with (DUET_DLOPEN_TLS, a CMake option that the
// installed package and the pkg-config files pass on to every user).
//
// DUET_DLOPEN_TLS=0 (the default of a static build): initial-exec, one
// %fs-relative access. Such a variable must live in the static TLS block
// glibc lays out at start: true of an executable and of the libraries it
// loads at start, but a dlopen (a plugin, a Python extension) can only take
// it from the few hundred spare bytes that block keeps, shared with every
// other library loaded that way, and fails past them ("cannot allocate
// memory in static TLS block").
//
// DUET_DLOPEN_TLS=1 (the default of a shared build; docs/adopting.md,
// "Plugins and dlopen"): the compiler's default model, and duet's own code
// compiled with TLS descriptors (-mtls-dialect=gnu2 on x86-64, AArch64's
// default). Linked into an executable, the linker relaxes each access to
// an offset fixed at link time; in a shared object an access calls the
// descriptor's function for the offset. Any duet library, and any shared
// object that links duet's archives, then loads by dlopen.
//
// Thread-locals read from code that a task runs inline (a header's inline
// path, compiled into a fiber body or a coroutine) are reached through an
// accessor that computes the address afresh at each use. A fiber resumes on
// another thread after any call that switches, a coroutine after any
// suspend; a compiler may compute a thread-local's address once and keep it
// across either (GCC keeps it across calls in a register; clang before 16
// keeps it across a coroutine's suspend, in the frame), and the task then
// uses the thread it left. The accessor is inline where an access is one
// fixed offset from the thread pointer (x86-64, initial-exec: a volatile asm
// of the two instructions the compiler would emit, which no optimisation
// may merge, hoist or keep), else an opaque call into the library. Within
// a stretch that cannot change threads (no suspend or switch in it: a
// run loop, an await_suspend, a destroy), one address serves every use.
#pragma once

#if defined(DUET_DLOPEN_TLS) && DUET_DLOPEN_TLS
#define DUET_TLS thread_local
#else
#define DUET_TLS thread_local __attribute__((tls_model("initial-exec")))
#endif

#if defined(__x86_64__) && !(defined(DUET_DLOPEN_TLS) && DUET_DLOPEN_TLS)
/// 1 where DUET_DETAIL_TLS_ADDRESS computes an address inline.
#define DUET_DETAIL_TLS_INLINE 1
/// The asm template that writes the address of the initial-exec thread-local
/// whose assembler name is `sym` to operand 0: the thread pointer plus the
/// variable's offset from the GOT (a linker relaxes it to an immediate).
#define DUET_DETAIL_TLS_ADDRESS(sym) "movq %%fs:0, %0\n\taddq " sym "@gottpoff(%%rip), %0"
#else
#define DUET_DETAIL_TLS_INLINE 0
#endif

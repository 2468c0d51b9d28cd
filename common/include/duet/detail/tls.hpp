// duet/detail/tls.hpp: thread-locals on the hot path, in the TLS model the
// library was built with (DUET_DLOPEN_TLS, a CMake option that the
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
#pragma once

#if defined(DUET_DLOPEN_TLS) && DUET_DLOPEN_TLS
#define DUET_TLS thread_local
#else
#define DUET_TLS thread_local __attribute__((tls_model("initial-exec")))
#endif

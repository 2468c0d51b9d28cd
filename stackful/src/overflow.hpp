// overflow.hpp: a fiber that runs into its guard page is reported, never
// silently continued.
//
// A SIGSEGV handler (installed once, when the first stack is mapped) runs
// on an alternate signal stack (installed on each thread before it first
// enters a fiber: the faulting stack has no room left). It looks at the
// fiber that the faulting thread runs; when the fault address lies in that
// fiber's guard page (or up to 64 KiB below it, where a large frame that
// skipped the guard lands), it prints the fiber, its strategy, its stack
// size and its spawn site, then aborts. Any other SIGSEGV goes to the
// handler that was installed before (or the default action).
#pragma once

#include "duet/detail/tls.hpp"

namespace duet::detail {

/// Installs the SIGSEGV handler (idempotent, thread-safe).
void install_overflow_handler() noexcept;

/// Whether the calling thread has been through give_alt_stack. A
/// constant-initialised bool: its test is one %fs-relative load on every
/// fiber entry (the thread_local that owns the alternate stack has a
/// destructor, and reaching it went through its TLS wrapper;
/// docs/performance-log.md, "A finishing fiber asks its worker once").
extern DUET_TLS constinit bool tl_alt_stack_tried;
/// ensure_alt_stack's first time on a thread: the handler checked, an
/// alternate signal stack installed unless the thread has one.
void give_alt_stack() noexcept;
/// Gives the calling thread an alternate signal stack unless it has one.
inline void ensure_alt_stack() noexcept {
  if (!tl_alt_stack_tried) [[unlikely]]
    give_alt_stack();
}

}  // namespace duet::detail

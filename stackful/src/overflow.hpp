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

namespace duet::detail {

/// Installs the SIGSEGV handler (idempotent, thread-safe).
void install_overflow_handler() noexcept;
/// Gives the calling thread an alternate signal stack unless it has one.
void ensure_alt_stack() noexcept;

}  // namespace duet::detail

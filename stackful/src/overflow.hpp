// overflow.hpp: what overflow.cpp (the guard page's SIGSEGV handler and the
// alternate signal stacks it runs on) offers its two callers: stack_map.cpp
// installs the handler when it maps its first stacks, and fiber.cpp's
// ensure_alt_stack gives each thread its alternate stack before its first
// fiber entry. Declarations only, so that every side is checked against
// one.
#pragma once

#include "duet/detail/thread_local.hpp"

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

}  // namespace duet::detail

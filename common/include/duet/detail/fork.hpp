// duet/detail/fork.hpp: what duet does in the child of a fork().
//
// The child of a fork has one thread: the one that called fork. Every other
// thread duet started (workers, the blocking pool's threads, the fallback
// timer's loop among them, the stall monitor) is gone, any lock one of them
// held stays held, and any task it was running never finishes. So once duet
// has started a thread, the child may exec, exit, and destroy the runtimes
// it inherited (which then release nothing: their threads are not there to
// stop), and nothing else: constructing a runtime, waiting on one (block_on,
// join, wait from a plain thread) or draining one aborts with a message
// naming the use, where it would otherwise hang. A fork before duet starts
// any thread is an ordinary process. docs/scheduler.md, "fork".
#pragma once

#include "duet/export.hpp"

namespace duet::detail {

/// Called before duet starts a thread: from then on a fork's child is marked.
DUET_API void fork_guard_arm() noexcept;
/// True in the child of a fork() made after duet started a thread.
[[nodiscard]] DUET_API bool in_forked_child() noexcept;
/// Aborts with a message naming `use`, refused in a forked child.
[[noreturn]] DUET_API void refuse_in_forked_child(const char* use) noexcept;
/// Aborts as refuse_in_forked_child when in_forked_child().
inline void check_not_forked(const char* use) noexcept {
  if (in_forked_child()) [[unlikely]]
    refuse_in_forked_child(use);
}

}  // namespace duet::detail

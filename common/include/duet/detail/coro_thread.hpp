// duet/detail/coro_thread.hpp: what the coroutine code on a thread shares
// with the run loop that runs it (duet/stackless/detail/frame.hpp): the run in
// progress, and a frame whose memory outlives it. One variable per thread
// for the whole process: it is defined once, in the core library, so that
// every shared object holding coroutine code (a user's library of Tasks
// awaited by tasks the program spawns) reads the same run.
#pragma once

#include <cstddef>

#include "duet/detail/thread_local.hpp"
#include "duet/export.hpp"

namespace duet::detail {

struct CoroRun;  // duet/stackless/detail/frame.hpp: one run of a coroutine chain

/// Plain data, constant-initialised (no run, no kept frame): an access is
/// one %fs-relative address with no initialisation guard.
struct CoroThread {
  /// The run in progress. Set by each run and never cleared: only the
  /// awaiters read it, and they run inside a run. A run nested in another
  /// (a child joined in place, from a poll in an awaiter) sets its own; the
  /// awaiter whose poll ran it sets the outer one back.
  CoroRun* run = nullptr;
  /// The frame whose memory outlives it (a spawned root being ended), and
  /// the size its operator delete reported.
  void* kept_frame = nullptr;
  std::size_t kept_bytes = 0;
};
DUET_API extern constinit DUET_TLS CoroThread tl_coro asm("duet_tl_coro");

/// This thread's CoroThread by a call the compiler cannot see into (it is
/// impure, so no call is merged with another).
[[gnu::noinline]] DUET_API CoroThread& coro_thread_opaque() noexcept;

/// Aborts, naming the mismatch: an inline path used another thread's
/// CoroThread.
[[noreturn, gnu::cold, gnu::noinline]] DUET_API void foreign_coro_thread(
    const CoroThread* used) noexcept;

}  // namespace duet::detail

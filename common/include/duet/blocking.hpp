// duet/blocking.hpp: run blocking work off the workers.
//
// Example (coroutine):
//   auto h = duet::spawn_blocking([] { return read_file("/etc/hostname"); });
//   std::string s = co_await h;   // coroutine; h.join() in a fiber or on a plain thread
//
// The function runs on the blocking pool, a separate set of threads that
// serves the whole process: spawn_blocking works on a worker, in a fiber and
// on a plain thread alike. Each runtime has its own share of it: at most
// RuntimeConfig::max_blocking_threads (default 512) of the jobs spawned on
// its workers run at once, the rest wait in its own queue, so one runtime's
// burst never holds back another's jobs; a pool thread whose last job was
// the runtime's exits after RuntimeConfig::blocking_keep_alive (default
// 10 s) without work. A job spawned off every worker takes the process's
// share, which configure_blocking_pool(BlockingPoolConfig) sets (512 and
// 10 s by default; its keep-alive also caps every runtime's).
// Runtime::blocking_stats() reads a runtime's share, blocking_pool_stats()
// the whole pool (process-wide, duet/stats.hpp).
//
// Its JoinHandle is an ordinary one: results and exceptions travel to the
// joiner, dropping the handle detaches. cancel() cancels a job that has not
// started (the join throws duet::Cancelled); a job that is already running
// cannot be interrupted and finishes normally.
//
// Blocking jobs are not listed in the runtime's OwnedTasks: runtime shutdown
// cannot stop a thread in the middle of a system call, so there is nothing
// for it to cancel. At process exit (main returns, or exit()) the pool
// stops: a job still queued never starts, and a running one is not waited
// for, so a job blocked in a system call cannot hold the exit. Join what
// must finish before main returns.
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "duet/detail/block_cache.hpp"
#include "duet/detail/poll_task.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/join_handle.hpp"
#include "duet/outcome.hpp"

namespace duet {

/// The pool's figures (blocking_pool_stats), or one share's
/// (Runtime::blocking_stats: `threads` are its jobs holding a thread, `idle`,
/// `spawned` and `reclaimed` are 0).
struct BlockingPoolStats {
  std::size_t threads = 0;       // live pool threads
  std::size_t idle = 0;          // of which waiting for work
  std::size_t queued = 0;        // jobs not started yet
  std::size_t max_threads = 0;   // the limit: the process's share's (a runtime's share's)
  std::size_t peak_threads = 0;  // most threads alive (jobs running) at once so far
  std::uint64_t spawned = 0;     // threads started so far
  std::uint64_t reclaimed = 0;   // threads that exited after keep-alive
};
DUET_API BlockingPoolStats blocking_pool_stats();
/// The process's share of the pool (configure_blocking_pool).
struct BlockingPoolConfig {
  /// At most this many of the jobs spawned off every worker run at once
  /// (512, as in Tokio); the rest wait in the process's queue.
  std::size_t max_threads = 512;
  /// How long a pool thread waits for work before it exits (10 s, as in
  /// Tokio); a runtime's RuntimeConfig::blocking_keep_alive applies up to it.
  std::chrono::nanoseconds keep_alive = std::chrono::seconds(10);
};
/// Sets the process's share: the limit of the jobs spawned off every worker,
/// and the keep-alive of every pool thread. Runtimes keep their own limits.
DUET_API void configure_blocking_pool(BlockingPoolConfig config);
/// The form before 0.4 (docs/CHANGELOG.md): positional arguments.
[[deprecated(
    "use configure_blocking_pool(BlockingPoolConfig{.max_threads = ..., .keep_alive = "
    "...})")]] inline void
configure_blocking_pool(std::size_t max_threads, std::chrono::nanoseconds keep_alive) {
  configure_blocking_pool(BlockingPoolConfig{.max_threads = max_threads, .keep_alive = keep_alive});
}

namespace detail {

struct BlockingQuota;  // a runtime's share of the pool (common/src/blocking/quota.hpp)

struct BlockingTaskBase : TaskHeader {
  explicit BlockingTaskBase(const TaskVTable* vt, void (*body)(BlockingTaskBase*)) noexcept
      : TaskHeader(vt), body(body) {}
  void (*body)(BlockingTaskBase*);  // runs the function, stores the outcome
  BlockingQuota* quota = nullptr;   // whose limit it counts against (set by the pool)
};
/// Queues `t` on the pool (starting a thread if needed).
DUET_API void blocking_submit(BlockingTaskBase* t);
/// Runs a popped job on a pool thread and completes it (the protocol of
/// Scheduler::finish, without a run queue or OwnedTasks).
DUET_API void blocking_run(BlockingTaskBase* t) noexcept;

template <class Fn, class T>
struct BlockingTask final : BlockingTaskBase, TaskOps<BlockingTask<Fn, T>> {
  explicit BlockingTask(Fn&& f) : BlockingTaskBase(&vtable, &run_body) {
    std::construct_at(&fn, std::move(f));
  }
  ~BlockingTask() { destroy_fn(); }
  void destroy_fn() noexcept {
    if (live) {
      live = false;
      std::destroy_at(&fn);
    }
  }
  static void run_body(BlockingTaskBase* b) {
    auto* self = static_cast<BlockingTask*>(b);
    self->out.capture_call(self->fn);
    self->destroy_fn();
  }
  static RunResult never_run(TaskHeader*) { return RunResult::pending; }
  static void cancel(TaskHeader* h) noexcept {
    auto* self = static_cast<BlockingTask*>(h);
    self->destroy_fn();
    self->out.set_cancelled();
  }
  // Kind `poll`: no worker ever runs or blocks a blocking job (the pool
  // does); the kind only tells fibers (stackful) apart, which this is not.
  static constexpr TaskVTable vtable{TaskKind::poll,
                                     &never_run,
                                     &cancel,
                                     &TaskOps<BlockingTask>::destroy,
                                     &TaskOps<BlockingTask>::outcome,
                                     &TaskOps<BlockingTask>::drop_outcome,
                                     nullptr};
  union {
    Fn fn;
  };
  bool live = true;
  Outcome<T> out;
};

}  // namespace detail

/// Runs `fn` on the blocking pool; returns its handle.
template <class Fn>
requires std::invocable < std::decay_t<Fn>
& > JoinHandle<std::invoke_result_t<std::decay_t<Fn>&>> spawn_blocking(Fn&& fn) {
  using F = std::decay_t<Fn>;
  using T = std::invoke_result_t<F&>;
  using BT = detail::BlockingTask<F, T>;
  void* mem = detail::block_alloc(sizeof(BT));
  BT* t;
  try {
    t = std::construct_at(static_cast<BT*>(mem), F(std::forward<Fn>(fn)));
  } catch (...) {
    detail::block_free(mem, sizeof(BT));
    throw;
  }
  // References: the pool's (the run queue's) and the handle's, as a
  // spawned header starts with.
  detail::blocking_submit(t);
  return JoinHandle<T>(t);
}

}  // namespace duet

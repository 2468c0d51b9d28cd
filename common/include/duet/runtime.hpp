// duet/runtime.hpp: the runtime: a set of pinned worker threads that run
// stackless tasks and stackful fibers side by side.
//
// Example (file):
//   duet::Task<int> fetch(int id) { co_return id * 2; }
//   struct Answer {
//     duet::Poll<int> poll(duet::Context&) { return 42; }
//   };
//   int main() {
//     duet::Runtime rt;                                       // one worker per core
//     auto a = rt.spawn(fetch(7));                            // Task<T>: stackless
//     auto b = rt.spawn(duet::stackful, [] { return 1; });    // a fiber
//     auto c = rt.spawn(Answer{});                            // a poll future
//     return a.join() + b.join() + c.join() == 57 ? 0 : 1;    // from outside: parks
//   }
//
// Shutdown (the destructor, or shutdown()): workers finish the run they are
// in and stop; then every task that has not finished is cancelled: a queued
// or parked coroutine has its frames destroyed, a fiber has its stack
// unwound (destructors run), a poll future is destroyed; their joiners see
// duet::Cancelled. Nothing leaks and nothing waits for tasks that cannot
// finish. Spawning on a runtime that has shut down yields a cancelled task.
//
// Pinned spawn (docs/scheduler.md, "Pinned tasks"): `rt.spawn(duet::pinned,
// ...)` on one of rt's workers, or `rt.spawn(duet::pin_to(i), ...)` from
// anywhere, runs the task (any of the three kinds) on that worker only, for
// its whole life: no other worker steals it or runs it in a join.
//
// Drain (drain(deadline), docs/drain.md): cancels the runtime's shutdown
// token (shutdown_token(): every task that waits on it learns the drain
// began, and pending call_at/call_after timers are cancelled), stops
// taking spawns from outside the runtime (each throws duet::SpawnRefused
// from then on; a task of the runtime may still spawn, so work in flight
// finishes its children), waits up to the deadline for the live tasks to
// finish, then shuts down as above and reports each task it cancelled
// (duet/drain.hpp).
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "duet/config.hpp"
#include "duet/detail/block_cache.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/poll_task.hpp"
#include "duet/drain.hpp"
#include "duet/join_handle.hpp"
#include "duet/memory.hpp"
#include "duet/poll.hpp"
#include "duet/time/clock.hpp"

namespace duet {

struct BlockingPoolStats;  // duet/blocking.hpp

class Runtime;
class CancellationToken;  // duet/cancel/token.hpp
namespace detail {
inline Scheduler* scheduler_of(Runtime& rt) noexcept;  // below
}  // namespace detail

/// A pinned spawn's worker: `duet::pinned` (the calling worker) or
/// `duet::pin_to(i)` (worker i, 0 <= i < rt.workers()).
struct Pin {
  static constexpr unsigned here = ~0u;
  unsigned worker = here;
};
/// Pins a spawned task to the worker that spawns it.
inline constexpr Pin pinned{};
/// Pins a spawned task to worker `worker`.
[[nodiscard]] constexpr Pin pin_to(unsigned worker) noexcept {
  return Pin{worker};
}

namespace detail {
/// How a spawn hands its new task to the scheduler: to be run anywhere,
/// or pinned to one worker. Each spawn (spawn_via) takes one of the two.
struct SubmitAnywhere {
  void operator()(Scheduler* s, TaskHeader* t) const { submit_new(s, t); }
};
struct SubmitPinned {
  unsigned home;
  void operator()(Scheduler* s, TaskHeader* t) const { submit_pinned(s, t, home); }
};
/// The worker `p` names on `rt`. Throws std::logic_error for duet::pinned
/// off rt's workers, std::out_of_range for pin_to past the last worker.
DUET_API unsigned pin_home(Runtime& rt, Pin p);
}  // namespace detail

class DUET_API Runtime {
 public:
  explicit Runtime(RuntimeConfig cfg = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// Spawns a task: a Task<T> (stackless), `duet::stackful[(options)], fn`
  /// (a fiber), or a poll future. Returns its JoinHandle.
  template <class... A>
  auto spawn(A&&... a) {
    return spawn_on(*this, std::forward<A>(a)...);
  }
  /// spawn(...) and join it from the calling (non-worker) thread.
  template <class... A>
  auto block_on(A&&... a) {
    return spawn(std::forward<A>(a)...).join();
  }

  /// Stops the workers and cancels what is left (see above). Idempotent.
  void shutdown();
  /// Cancelled when a drain begins (or a shutdown, whichever comes first):
  /// a task selects on `shutdown_token().cancelled()` (or makes a child
  /// token of it) to stop taking new work and finish what it has. A shared
  /// handle to the runtime's one token; cancelling it by hand asks the
  /// same of every task, without draining.
  [[nodiscard]] CancellationToken shutdown_token() const;
  /// Cancels shutdown_token(), stops taking spawns from outside the
  /// runtime (a task of the runtime may still spawn: work in flight
  /// finishes its children), waits up to `deadline` for every live task to
  /// finish, then shuts down, cancelling the rest, and reports them. Call
  /// it from a thread outside this runtime (a worker of another runtime
  /// blocks there, like any blocking call): called on one of this runtime's
  /// own workers, or a second time, it throws std::logic_error and changes
  /// nothing. On a runtime already shut down it finds nothing to cancel.
  DrainReport drain(std::chrono::nanoseconds deadline);

  [[nodiscard]] unsigned workers() const noexcept;
  /// Inline (every fiber spawn reads its defaults here): the scheduler's
  /// copy, which lives as long as the runtime.
  [[nodiscard]] const RuntimeConfig& config() const noexcept { return *cfg_; }
  // Statistics read from the runtime, each a snapshot named *_stats()
  // (docs/vocabulary.md); the process-wide ones are free functions,
  // gathered in duet/stats.hpp.
  /// A snapshot of every worker's counters.
  [[nodiscard]] std::vector<WorkerStats> stats() const;
  /// What duet's caches hold: the block cache and the fiber stack pool
  /// (process-wide), and each worker's I/O driver (duet/memory.hpp).
  [[nodiscard]] MemoryStats memory_stats() const;
  /// The name before 0.4 (docs/CHANGELOG.md).
  [[deprecated("use memory_stats()")]] [[nodiscard]] MemoryStats memory() const {
    return memory_stats();
  }
  /// This runtime's share of the blocking pool (duet/blocking.hpp): its
  /// jobs running and waiting, its limit and its peak.
  [[nodiscard]] BlockingPoolStats blocking_stats() const;
  /// The OS CPU each worker is pinned to (-1: not pinned).
  [[nodiscard]] std::vector<int> worker_cpus() const;

  /// Test clock (RuntimeConfig::clock paused or manual, docs/time.md):
  /// moves it forward by `d`, firing every timer due on the way in deadline
  /// order, each with the clock at its deadline; after each step the
  /// workers run what it woke (until all are idle) before the next. Call it
  /// from a thread off this runtime. Throws std::logic_error with a real
  /// clock or on one of this runtime's workers, std::invalid_argument for a
  /// negative `d`.
  void advance(std::chrono::nanoseconds d);
  /// This runtime's clock, read from any thread: its test clock's time when
  /// it has one, else steady_clock's (what Clock::now() reads on its
  /// workers; off them, Clock::now() reads a test clock only while it is
  /// the one that lives).
  [[nodiscard]] Instant now() const noexcept;

  /// The runtime whose worker calls this, or null.
  static Runtime* current() noexcept;
  /// The index of the worker that calls this (0 to workers() - 1, the
  /// index duet::pin_to takes), or -1 off every runtime's workers.
  [[nodiscard]] static int current_worker() noexcept;

 private:
  friend detail::Scheduler* detail::scheduler_of(Runtime&) noexcept;
  std::unique_ptr<detail::Scheduler> sched_;
  const RuntimeConfig* cfg_;  // sched_'s config
};

namespace detail {
/// The scheduler behind `rt`. Inline: every spawn asks (a call of its own
/// before).
inline Scheduler* scheduler_of(Runtime& rt) noexcept {
  return rt.sched_.get();
}
}  // namespace detail

namespace detail {
/// Spawns a poll future as a task (one block: header, future, outcome),
/// handed to the scheduler by `submit` (SubmitAnywhere or SubmitPinned).
/// Internal: each spawn_on takes its way through it.
template <class Submit, Future F>
requires(!is_task_v<std::remove_cvref_t<F>>)  // a Task spawns as a coroutine
    JoinHandle<future_output_t<std::remove_cvref_t<F>>> spawn_via(Submit submit, Runtime& rt,
                                                                  F&& fut) {
  using Fut = std::remove_cvref_t<F>;
  using Task = PollTask<Fut>;
  void* mem = block_alloc(sizeof(Task));
  Task* t;
  if constexpr (std::is_nothrow_constructible_v<Fut, F&&> &&
                std::is_nothrow_move_constructible_v<Fut>) {
    t = new (mem) Task(Fut(std::forward<F>(fut)));
  } else {
    // A future whose copy or move throws: the block goes back, and the
    // spawner gets the exception with nothing spawned.
    try {
      t = new (mem) Task(Fut(std::forward<F>(fut)));
    } catch (...) {
      block_free(mem, sizeof(Task));
      throw;
    }
  }
  submit(scheduler_of(rt), t);
  return JoinHandle<future_output_t<Fut>>(t);
}
}  // namespace detail

/// Spawns a poll future as a task.
template <Future F>
requires(!detail::is_task_v<std::remove_cvref_t<F>>)  // a Task spawns as a coroutine
    JoinHandle<future_output_t<std::remove_cvref_t<F>>> spawn_on(Runtime& rt, F&& fut) {
  return spawn_via(detail::SubmitAnywhere{}, rt, std::forward<F>(fut));
}

/// Spawns any of the three kinds (the arguments after the Pin, as for an
/// unpinned spawn) pinned to the worker `p` names.
template <class... A>
auto spawn_on(Runtime& rt, Pin p, A&&... a) {
  return spawn_via(detail::SubmitPinned{detail::pin_home(rt, p)}, rt, std::forward<A>(a)...);
}

/// Spawns on the runtime of the calling worker (from inside a task).
/// Throws std::logic_error when called outside any runtime.
template <class... A>
auto spawn(A&&... a) {
  Runtime* rt = Runtime::current();
  if (rt == nullptr) throw std::logic_error("duet::spawn: not on a runtime worker; use rt.spawn");
  return spawn_on(*rt, std::forward<A>(a)...);
}

}  // namespace duet

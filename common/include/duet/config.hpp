// duet/config.hpp: every number of the scheduler is a knob, with the reason
// for its default beside it.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string_view>

#include "duet/histogram.hpp"
#include "duet/names.hpp"

namespace duet {

struct StallReport;  // duet/stall.hpp

/// How workers are pinned to CPUs (read from hwloc).
enum class Placement : std::uint8_t {
  none,          // not pinned: the OS decides
  one_per_core,  // one worker per physical core (first hardware thread of each)
  compact,       // fill hardware threads in order: SMT siblings first
  scatter,       // round-robin across the largest cache domains (L3, then packages)
};

/// Which I/O driver workers sleep in (see duet/detail/driver.hpp).
enum class IoDriver : std::uint8_t {
  automatic,  // io_uring when the kernel allows it (and not under Valgrind), else epoll
  io_uring,
  epoll,
  none,  // no I/O: a bare futex
  sim,   // a simulated network (duet::sim::World, docs/simulation.md); made only by a World
};

/// Where a fiber's stack comes from (duet/stackful/stack.hpp and
/// docs/stackful.md describe each; FiberConfig can override per spawn).
enum class StackStrategy : std::uint8_t {
  pooled,            // fixed size + guard page, from per-thread pools
  lazy,              // large reservation, pages committed on touch
  copy,              // runs on a per-worker shared stack; copied out on suspend
  unguarded_unsafe,  // pooled without a guard page: for measurements only
};

/// What duet::Clock reads while the runtime lives (duet/time/clock.hpp,
/// docs/time.md).
enum class ClockMode : std::uint8_t {
  real,    // steady_clock
  paused,  // a test clock that jumps to the next timer whenever every worker is idle
  manual,  // a test clock that moves only through Runtime::advance
};

// The names of the values (duet/names.hpp): to_string, and
// duet::from_string<E> through enum_values.
constexpr std::array<Placement, 4> enum_values(Placement) noexcept {
  return {Placement::none, Placement::one_per_core, Placement::compact, Placement::scatter};
}
constexpr std::string_view to_string(Placement p) noexcept {
  switch (p) {
    case Placement::none:
      return "none";
    case Placement::one_per_core:
      return "one_per_core";
    case Placement::compact:
      return "compact";
    case Placement::scatter:
      return "scatter";
  }
  return "?";
}

constexpr std::array<IoDriver, 5> enum_values(IoDriver) noexcept {
  return {IoDriver::automatic, IoDriver::io_uring, IoDriver::epoll, IoDriver::none, IoDriver::sim};
}
constexpr std::string_view to_string(IoDriver d) noexcept {
  switch (d) {
    case IoDriver::automatic:
      return "automatic";
    case IoDriver::io_uring:
      return "io_uring";
    case IoDriver::epoll:
      return "epoll";
    case IoDriver::none:
      return "none";
    case IoDriver::sim:
      return "sim";
  }
  return "?";
}

constexpr std::array<StackStrategy, 4> enum_values(StackStrategy) noexcept {
  return {StackStrategy::pooled, StackStrategy::lazy, StackStrategy::copy,
          StackStrategy::unguarded_unsafe};
}
constexpr std::string_view to_string(StackStrategy s) noexcept {
  switch (s) {
    case StackStrategy::pooled:
      return "pooled";
    case StackStrategy::lazy:
      return "lazy";
    case StackStrategy::copy:
      return "copy";
    case StackStrategy::unguarded_unsafe:
      return "unguarded_unsafe";
  }
  return "?";
}
constexpr std::array<ClockMode, 3> enum_values(ClockMode) noexcept {
  return {ClockMode::real, ClockMode::paused, ClockMode::manual};
}
constexpr std::string_view to_string(ClockMode c) noexcept {
  switch (c) {
    case ClockMode::real:
      return "real";
    case ClockMode::paused:
      return "paused";
    case ClockMode::manual:
      return "manual";
  }
  return "?";
}

struct RuntimeConfig {
  /// Worker threads; 0 means one per physical core (hwloc).
  unsigned workers = 0;
  Placement placement = Placement::one_per_core;
  /// Local ring slots (a power of two). 256 as in Tokio and blitz-io: small
  /// enough (2 KiB of pointers) to stay in L1, and enough for steady
  /// message passing; a burst of more runnable tasks than that overflows
  /// half the ring into the injector (docs/performance-log.md, "A burst
  /// past the local ring").
  std::uint32_t local_queue_capacity = 256;
  /// Polls per tick; after each tick a worker checks the injection queue,
  /// so a busy local queue cannot starve spawns and wakes from outside.
  /// 128 matches Tokio's coop budget.
  std::uint32_t tick_budget = 128;
  /// Consecutive runs from the LIFO slot before the FIFO ring gets a turn.
  /// 3 as in Tokio: a freshly spawned or woken child runs hot in cache, yet
  /// a ping-pong pair cannot starve the ring. Past the cap with
  /// the ring empty the slot's task still runs (nobody waits behind it).
  /// 0 disables the slot.
  std::uint32_t lifo_cap = 3;
  /// How long a worker may stay inside one poll (user code that blocks or
  /// spins) while a task waits in its LIFO slot, before a parked worker
  /// takes that task. One parked worker, the watcher, sleeps with this
  /// timeout while another worker is awake; a stuck task waits one to two
  /// periods plus the wake-up. 1 ms: watching costs a small share of one
  /// core, and only while one worker runs and another sleeps (what it costs
  /// and how long a stuck task waits: docs/performance-log.md, "The LIFO
  /// watcher and the slot's handshake"); and a poll that has already held
  /// its LIFO task for 1 ms gains nothing by keeping it on a hot cache
  /// (Go's sysmon preempts a goroutine after 10 ms; Go's idle Ps take a
  /// running P's `runnext` after a back-off of a few microseconds, Tokio's
  /// never). 0: the slot is never taken (a task in it waits for its worker,
  /// however long).
  std::chrono::nanoseconds lifo_steal_after = std::chrono::milliseconds(1);
  /// Steal rounds an idle worker makes, still counted as searching, before
  /// it parks. While a worker searches, spawners wake nobody; without the
  /// spin, a producer on one worker and a thief on another paid a futex
  /// wake and wait every few tasks (docs/performance-log.md, "Search spins
  /// before parking"). 0 parks at once.
  std::uint32_t search_spins = 64;
  /// How long a worker with nothing to run keeps polling its I/O driver
  /// before it sleeps in it. Waking a sleeping thread is slow (the halt, the
  /// IPI, dearer still under a hypervisor); a worker that polls meanwhile
  /// (an io_uring poll with nothing pending is a few memory reads, no
  /// syscall) answers a request that arrives within the window at once, at
  /// the price of that much CPU per idle period. 0 (the default, as in
  /// Tokio): sleep at once. A latency-bound server sets a window of tens of
  /// microseconds (docs/io.md).
  std::chrono::nanoseconds idle_poll{0};
  /// Default usable stack size of a fiber, in bytes (a guard page is added).
  /// 64 KiB: deep enough for ordinary library code; only touched pages cost
  /// memory.
  std::size_t fiber_stack_size = 64 * 1024;
  /// The stack strategy of a fiber spawned without one. Pooled: the
  /// cheapest spawn, and an overflow hits a guard page.
  StackStrategy fiber_stack_strategy = StackStrategy::pooled;
  /// A fiber with a stack of its own (not a copy fiber, not a measured one)
  /// that has stayed parked at least this long gives back the pages of its
  /// stack below its stack pointer (Go's stack shrinking; docs/stackful.md,
  /// "A parked fiber's stack"): a worker looks for such fibers on a
  /// housekeeping turn it takes about once per this period while fibers
  /// are parked, never on a park or a resume. A fiber that went deep once
  /// and parks shallow then holds the pages it is parked on, not its deepest
  /// ones; its next deep call faults them in again. duet::http's fiber
  /// engine reads it too: a connection idle this long gives its fiber back
  /// (docs/http.md). 0: never. 1 s (docs/performance-log.md, "Parked fibers
  /// give back their deep pages").
  std::chrono::nanoseconds fiber_stack_trim_after = std::chrono::seconds(1);
  /// I/O driver; the DUET_DRIVER environment variable (io_uring, epoll,
  /// none) overrides it. Under Valgrind io_uring becomes epoll, with a
  /// warning if it was forced: Valgrind 3.19 cannot wait in io_uring_enter
  /// without stopping every thread (drivers/io/src/choice.cpp).
  IoDriver io_driver = IoDriver::automatic;
  /// io_uring: receive buffers per worker for multishot recv with provided
  /// buffers (a power of two, at most 32768; 0 turns multishot recv off and
  /// every read is one recv SQE). A socket's first read arms one multishot
  /// recv that stays armed: the kernel fills buffers from this ring as data
  /// arrives, with no SQE and no poll re-arm per message. A buffer is held
  /// only from its arrival until its reader copies it out (at most 8 per
  /// socket), so a ring serves many more connections than it has buffers;
  /// a worker out of buffers falls back to one-shot recv. The kernel takes
  /// buffers in ring order, so under traffic every buffer's pages end up
  /// touched: the ring's size is resident memory. 256 (1 MiB a worker at
  /// 4 KiB): few enough to keep an io_uring server's memory near epoll's
  /// (docs/performance-log.md, "What an io_uring server holds"). The ring
  /// starts with this many and grows (io_recv_buffers_max).
  std::uint32_t io_recv_buffers = 256;
  /// io_uring: the most receive buffers a worker's ring grows to. A
  /// multishot recv that ends because the ring was empty (more sockets had
  /// bytes waiting at once than the ring had buffers) doubles the ring, up
  /// to this many; it never shrinks. A ring that runs dry costs each
  /// starved socket a direct recv and a re-arm, and serves it a turn
  /// behind the others (docs/performance-log.md, "A buffer ring that grows").
  /// A power of two, at least io_recv_buffers, at most 32768; equal to it,
  /// the ring keeps its size.
  std::uint32_t io_recv_buffers_max = 4096;
  /// Size of each receive buffer, in bytes. 4 KiB: a page, and one typical
  /// request; a larger read gathers several buffers.
  std::uint32_t io_recv_buffer_size = 4096;
  /// io_uring: set each ring up IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN
  /// when the kernel has them (6.1): completion work runs only when the
  /// worker enters the ring, batched, instead of as task work on every
  /// event. The worker thread owns its ring from its start to its drain at
  /// shutdown. false: COOP_TASKRUN only.
  bool io_uring_defer_taskrun = true;
  /// Called with the exception of a detached task (nobody will join it).
  /// Default: print it to stderr.
  std::function<void(std::exception_ptr)> on_detached_exception{};
  /// This runtime's share of the blocking pool (duet::spawn_blocking): at
  /// most this many of its jobs run at once (512 as in Tokio), each on a
  /// pool thread; its jobs beyond it wait in its own queue, and other
  /// runtimes' jobs are not held back by them.
  std::size_t max_blocking_threads = 512;
  /// How long a pool thread whose last job was this runtime's waits for
  /// work before it exits (10 s as in Tokio; the process's keep-alive,
  /// configure_blocking_pool, caps it).
  std::chrono::nanoseconds blocking_keep_alive = std::chrono::seconds(10);
  /// A test clock (docs/time.md): paused or manual time for the whole
  /// process while this runtime lives (at most one such runtime at a time;
  /// a second throws std::logic_error). real: steady_clock, at no cost.
  ClockMode clock = ClockMode::real;
  /// The seed of every random choice the runtime makes: each worker's steal
  /// victims and the select case order of tasks it runs. Unset: seeded from
  /// the clock. With one worker and a fixed seed, a program whose tasks only
  /// talk to each other runs the same interleaving on every run.
  std::optional<std::uint64_t> seed{};
  /// Whether each spawn lists its task in the runtime's task list at once,
  /// so that dump_tasks (duet/dump.hpp) describes every live task, queued
  /// ones that never ran included. Costs each spawn and each finish an
  /// uncontended spin lock (docs/observability.md gives the counts). false:
  /// a task is listed when it first parks; the dump counts the tasks that
  /// have not parked yet without describing them.
  bool list_all_tasks = false;
  /// The stall detector (duet/stall.hpp, docs/observability.md): a run of
  /// a task (a poll or a fiber's slice) that keeps its worker at least this
  /// long is reported while it still runs, with a backtrace of the worker
  /// taken in a SIGURG handler on it. 0 (the default): off, and no monitor
  /// thread, no signal handler, nothing on the hot path. A monitor thread
  /// looks every threshold / 2, so a stall is seen after 1 to 1.5 times it.
  /// At most one report a second per runtime; every stall is counted in
  /// WorkerStats::stalls.
  std::chrono::nanoseconds stall_threshold{0};
  /// Where stall reports go. Default: StallReport::text() to stderr. Called
  /// on the monitor thread (not a worker, not in the signal handler).
  std::function<void(const StallReport&)> on_stall{};
  /// The histograms of WorkerStats::histograms (duet/histogram.hpp,
  /// docs/observability.md). 0 (the default): off. N: on, and each worker
  /// times the first run of every tick (one run in `tick_budget`: how long
  /// it kept the worker) and stamps one task in N that it queues (how long
  /// the woken or spawned task waited for its run), with its CPU's cycle
  /// counter; a tick_budget of 1 times every run. Off, the fast path keeps
  /// a decrement and a test per queued task and a bit test per run (what
  /// on and off cost: docs/performance-log.md, "Run-time and
  /// scheduling-delay histograms"). Measured fibers' stack marks are
  /// recorded either way.
  std::uint32_t histogram_sample_every = 0;
};

/// Per-worker counters. Each is written by one thread only, its worker
/// (stalls: the stall monitor), with plain increments, no locked
/// instruction, and read by anyone.
struct WorkerStats {
  std::uint64_t polls = 0;           // task runs (polls or fiber resumes)
  std::uint64_t lifo_hits = 0;       // runs taken from the LIFO slot
  std::uint64_t steals = 0;          // tasks taken from other workers
  std::uint64_t steal_attempts = 0;  // victim queues tried
  std::uint64_t injector_pops = 0;   // tasks taken from the injection queue
  std::uint64_t overflows = 0;       // local ring full: half moved to the injector
  std::uint64_t parks = 0;           // times the worker went to sleep
  std::uint64_t yields = 0;          // yields served (fast path or requeue)
  std::uint64_t lifo_steals = 0;     // tasks taken from a stuck worker's LIFO slot
  std::uint64_t hand_offs = 0;       // fiber-to-fiber switches that skipped the loop
  std::uint64_t inline_joins = 0;    // children run inside their joiner's poll
  /// Runs that kept this worker past RuntimeConfig::stall_threshold, reported
  /// or not (written by the stall monitor thread, the only writer).
  std::uint64_t stalls = 0;
  /// Sampled run times and scheduling delays, and measured fibers' stack
  /// marks (RuntimeConfig::histogram_sample_every).
  WorkerHistograms histograms;
};

}  // namespace duet

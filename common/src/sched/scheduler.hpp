// scheduler.hpp: the runtime's shared state: workers, injection queue,
// idle set, the list of live tasks, shutdown, and the drain before it.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "blocking/quota.hpp"
#include "duet/cancel/token.hpp"
#include "duet/config.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/drain.hpp"
#include "idle.hpp"
#include "injector.hpp"
#include "owned_tasks.hpp"
#include "time/test_clock.hpp"
#include "worker.hpp"

namespace duet {
class Runtime;
}

namespace duet::detail {

class DUET_API Scheduler {
 public:
  Scheduler(Runtime& rt, RuntimeConfig cfg);
  ~Scheduler();

  /// A new task: queue it (locally when called on one of our workers, else
  /// through the injector). It is listed in `owned` when it first parks,
  /// not here: a task that never parks is never listed (unless
  /// RuntimeConfig::list_all_tasks, which lists every task here). Once a
  /// drain has begun, a spawn from one of our workers is still taken (work
  /// in flight finishes its children) until the shutdown; any other one
  /// is cancelled, both its references dropped, and SpawnRefused thrown
  /// (the caller has built no JoinHandle yet).
  void submit_new(TaskHeader* t);
  /// A woken task (it holds the queue reference): queue it.
  void schedule(TaskHeader* t) noexcept;
  /// submit_new for a task pinned to worker `home` (< workers.size()): it
  /// is marked PINNED and queued on that worker only, from any thread.
  void submit_pinned(TaskHeader* t, unsigned home);
  /// A woken PINNED task (WakeAction::submit_pinned; it holds the queue
  /// reference): queue it on its home worker (pinned_queue.hpp).
  void schedule_pinned(TaskHeader* t) noexcept;
  /// schedule or schedule_pinned, as the task's word says (a requeue by
  /// someone who holds the queue reference but no wake action: the dump).
  void requeue(TaskHeader* t) noexcept;
  /// Work became visible somewhere: wake a parked worker if nobody searches.
  void notify_parked() noexcept;
  /// A task went into a LIFO slot while the watcher sleeps without a
  /// timeout (Idle::watcher_asleep): wake it, so that it watches again.
  void wake_watcher() noexcept;
  /// Does a queue that any worker may take from hold work: the injector or
  /// a ring? (the last searcher's re-check before it sleeps). A pinned
  /// task is not such work: only its home may run it, and whoever queued it
  /// unparked the home (schedule_pinned).
  bool has_stealable_work() const noexcept;
  /// Does any queue hold work, a pinned inbox included? (the test clock's
  /// check that the runtime is quiet)
  bool has_pending_work() const noexcept;
  /// Live tasks not listed in `owned` (spawned, not parked yet: queued or
  /// running). Exact when nothing moves; a snapshot otherwise (dump_tasks).
  [[nodiscard]] std::size_t unlisted_tasks() const noexcept;
  /// Completion bookkeeping on the thread that finished `t` (worker or
  /// shutdown): publish_completion (task/harness.hpp: wake the joiner),
  /// then release_after_completion.
  void finish(TaskHeader* t) noexcept;
  /// The second half of finish(): unlist `t` (if listed) and drop the
  /// run's references. A finished fiber publishes before its last switch;
  /// the loop or the hand-off releases after it.
  void release_after_completion(TaskHeader* t) noexcept;

  // ---- parked fibers' stacks (parked_stacks.cpp) --------------------------
  //
  // RuntimeConfig::fiber_stack_trim_after: a worker's housekeeping looks at
  // the fibers parked that long and has them give back the stack pages
  // below their stack pointers. `trim_due` is the coarse tick (now_tick)
  // at which the next look is due, or trim_none when no parked fiber waits
  // for one; any worker whose turn finds it due claims the look by a CAS,
  // so one worker looks at a time.
  static constexpr std::uint64_t trim_none = ~std::uint64_t{0};
  /// A look is wanted no later than `tick` (no-op when the knob is 0).
  void want_trim_by(std::uint64_t tick) noexcept {
    if (trim_after_ticks == 0) return;
    // Relaxed: the word only says when to look; the look itself reads
    // each fiber under its hold (the state word's acquire).
    std::uint64_t due = trim_due.load(std::memory_order_relaxed);
    while (tick < due && !trim_due.compare_exchange_weak(due, tick, std::memory_order_relaxed)) {
    }
  }
  /// A worker's turn at tick `now`: the look, when it is due and this
  /// worker claims it. Returns whether it looked.
  bool trim_if_due(std::uint64_t now) noexcept {
    std::uint64_t due = trim_due.load(std::memory_order_relaxed);
    if (due > now) return false;
    // Relaxed: the claim only keeps two workers from looking at once.
    if (!trim_due.compare_exchange_strong(due, trim_none, std::memory_order_relaxed)) return false;
    trim_parked_stacks(now);
    return true;
  }
  /// The look itself: every listed fiber parked at least
  /// fiber_stack_trim_after is held, its pages below its stack pointer are
  /// given back (one pass of the stackful module over the batch), and the
  /// hold ends; the next look is wanted when the youngest of the others
  /// comes of age.
  void trim_parked_stacks(std::uint64_t now) noexcept;
  void shutdown();
  /// Runtime::drain (duet/runtime.hpp, docs/drain.md).
  DrainReport drain(std::chrono::nanoseconds deadline);
  /// Worker thread, after its loop ends: waits until shutdown has cancelled
  /// every task, so that the worker can then quiesce its own driver (an
  /// io_uring ring with SINGLE_ISSUER accepts submissions from it alone).
  void worker_stopped_wait_for_drain();
  [[nodiscard]] bool is_shutdown() const noexcept {
    return phase_.load(std::memory_order_acquire) == kShutDown;
  }

  Runtime& runtime;
  const RuntimeConfig cfg;
  /// set_spawn_observer (detail/current.hpp): set before the first spawn,
  /// cleared after shutdown, so read without synchronization.
  void set_spawn_observer(SpawnObserver* o) noexcept {
    spawn_observer_ = o;
    slow_spawn_ = cfg.list_all_tasks || o != nullptr;
  }
  /// Its share of the blocking pool (blocking/quota.hpp).
  const BlockingQuotaRef blocking_quota{cfg};
  /// Runtime::shutdown_token(): cancelled by the first drain or shutdown.
  const CancellationToken shutdown_token;
  Injector injector;
  Idle idle;
  OwnedTasks owned;
  std::vector<std::unique_ptr<Worker>> workers;
  /// RuntimeConfig::clock's test clock, or null (real time). Declared after
  /// `workers`: destroyed first, after shutdown joined them.
  std::unique_ptr<TestClock> test_clock;
  /// RuntimeConfig::stall_threshold's monitor, or null (off). Stopped
  /// first in shutdown(), while the workers it signals still run.
  std::unique_ptr<StallMonitor> stall_monitor;
  /// fiber_stack_trim_after in coarse ticks (0: off), and when the next
  /// look at parked fibers is due (trim_if_due).
  const std::uint64_t trim_after_ticks;
  std::atomic<std::uint64_t> trim_due{trim_none};

 private:
  void cancel_everything();
  /// Cancels a task (neither queued nor listed any more) on the calling
  /// thread and publishes its completion; drops no reference.
  void cancel_now(TaskHeader* t) noexcept;
  /// cancel_now for a task this thread already holds RUNNING (a held run
  /// taken from a ring).
  void cancel_running(TaskHeader* t) noexcept;
  // Where the runtime is in its life: spawns are taken while kOpen, wakes
  // are queued until kShutDown. One byte, so that a spawn and a wake each
  // test it with one load, as they tested a shutdown flag before drains.
  static constexpr std::uint8_t kOpen = 0, kDraining = 1, kShutDown = 2;
  std::atomic<std::uint8_t> phase_{kOpen};
  // Set once by the first drain, never cleared: a spawn from then on is
  // refused with SpawnRefused (read on the spawn's slow path only).
  std::atomic<bool> drain_begun_{false};
  // While a drain's shutdown cancels: where each cancelled task is noted
  // (only the shutting-down thread touches it).
  std::vector<CancelledTask>* cancel_report_ = nullptr;
  std::atomic<bool> stopped_{false};
  /// submit_new with RuntimeConfig::list_all_tasks or a spawn observer:
  /// lists the new task, or shows it to the observer, then queues it.
  void submit_slow(TaskHeader* t);
  /// The spawn's one test: list_all_tasks or an observer.
  bool slow_spawn_ = cfg.list_all_tasks;
  SpawnObserver* spawn_observer_ = nullptr;
  /// The slow half of submit_new: no worker of ours, or not kOpen.
  void submit_off_worker(TaskHeader* t);
  /// A new task on a runtime past kOpen: after a drain began, cancelled,
  /// freed and refused (throws SpawnRefused); after shutdown, cancelled
  /// (true). False while spawns are still taken.
  bool refuse_if_closed(TaskHeader* t);
  /// Notes `t` in cancel_report_ (a drain's shutdown), before its cancel.
  void note_cancelled(TaskHeader* t);
  /// No live task (none listed, none counted unlisted): drain's check.
  [[nodiscard]] bool no_live_tasks() noexcept;
  // Wakes from outside the workers (a blocking-pool thread, a plain thread)
  // between their push and their unpark. The woken task may run and finish,
  // and its joiner destroy the runtime, before such a thread reaches the
  // unpark (TSan: a blocking-pool thread wrote a closed eventfd); the
  // destructor waits for this to reach zero before the drivers go.
  std::atomic<std::uint32_t> outside_wakes_{0};
  // unlisted_tasks()' share counted off the workers (spawns from outside,
  // shutdown's cancellations): relaxed RMWs, a statistic.
  std::atomic<std::int64_t> unlisted_outside_{0};
  /// The calling thread's worker if it is one of ours, else null.
  Worker* own_worker() const noexcept;
  /// Counts a task as unlisted (d > 0) or no longer (d < 0), on `w` (from
  /// own_worker) or, with none, in unlisted_outside_.
  void count_unlisted(Worker* w, std::int64_t d) noexcept;
  /// Queues `t` on `w` (from own_worker), unless there is none or the
  /// runtime's phase has reached `closed_at`: false then.
  template <std::uint8_t closed_at>
  bool schedule_on(Worker* w, TaskHeader* t) noexcept;
  /// Queues `t` through the injector and wakes a parked worker.
  void schedule_from_outside(TaskHeader* t) noexcept;
  // The shutdown handshake with the workers (cold path: a mutex).
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  unsigned workers_stopped_ = 0;  // guarded by stop_mu_
  bool drain_ = false;            // guarded by stop_mu_
};

/// The calling thread's worker, or null (out of line: thread_context.hpp).
DUET_API Worker* current_worker() noexcept;

}  // namespace duet::detail

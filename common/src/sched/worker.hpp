// worker.hpp: one worker thread and its run loop.
//
// Where a worker looks for its next task, in order:
//   1. every `tick_budget` runs: the injection queue first (fairness for
//      spawns from outside), then the rest of the tick's maintenance;
//   2. the LIFO slot, unless it already ran `lifo_cap` times in a row while
//      other tasks wait in the ring;
//   3. its own ring (FIFO);
//   4. the injection queue (a batch moves into the ring);
//   5. steal half of a random victim's ring (at most half the workers
//      search at a time);
//   6. park (see Scheduler for the no-lost-wake-up rule).
//
// Nobody else looks in the LIFO slot except the watcher (idle.hpp): a parked
// worker that wakes every RuntimeConfig::lifo_steal_after and takes the task
// of a worker whose poll count has not moved since its last look, i.e. that
// has been inside one poll (blocked or spinning user code) all that time.
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "duet/config.hpp"
#include "duet/detail/driver.hpp"
#include "duet/detail/hand_off.hpp"
#include "duet/detail/task_header.hpp"
#include "histogram/counter.hpp"
#include "lifo_slot.hpp"
#include "local_queue.hpp"
#include "pinned_queue.hpp"
#include "run_sampler.hpp"
#include "stall_monitor.hpp"
#include "time/wheel.hpp"

namespace duet::detail {

class Scheduler;

class DUET_API Worker {
 public:
  Worker(Scheduler& s, unsigned index, int cpu);
  void start();
  void join();

  /// Queues a task from this worker's own thread. A wake or spawn goes to
  /// the LIFO slot (hot in cache); a yield or requeue goes to the back.
  void schedule_local(TaskHeader* t, bool to_back);
  /// Queues a task pinned to this worker (pinned_queue.hpp): from its own
  /// thread into its own list; from any other thread into the inbox, then
  /// unparks it.
  void schedule_pinned_here(TaskHeader* e) noexcept { pinned_.push_here(e); }
  void schedule_pinned_from_elsewhere(TaskHeader* t) noexcept;

  // ---- direct hand-off (duet/detail/hand_off.hpp) ------------------------
  NextTask take_next_task() noexcept;
  void run_next(NextTask n) noexcept { handed_ = n; }
  /// The loop's bookkeeping after `t`'s run ended with `r` (the only
  /// place a run's end is decided): complete, its completion published
  /// (harness.hpp, complete_run) and its references released; pending,
  /// parked (park_ended); yielded, its held run to the back of the ring.
  void run_ended(TaskHeader* t, RunResult r) noexcept;
  /// run_ended for a fiber that handed this worker straight to another
  /// (hand_off.hpp, run_ended_by_hand_off): counted as a hand-off.
  void hand_off_ended(TaskHeader* t, RunResult r) noexcept {
    stats_.hand_offs.inc();
    run_ended(t, r);
  }
  /// hand_off.hpp's take_yield_turn.
  NextTask yield_turn(TaskHeader* self) noexcept;
  /// take_next_task's and yield_turn's common end, with the LIFO slot's
  /// peek already made (`lifo`: it held a task).
  NextTask take_next(bool lifo) noexcept;

  /// The join hand-off: the running task joins `child`, and `child` is the
  /// task this worker would run next (it sits in the LIFO slot: just
  /// spawned, or just woken, by the joiner). Runs it now, inside the
  /// joiner's poll, so that a child that finishes at once is joined without
  /// a join waker, a park and a wake of the joiner. Does nothing where that
  /// is not exactly what the loop would do next, or not cheap to do here:
  /// see the conditions in worker.cpp.
  void run_child_inline(TaskHeader* child);
  /// Whether a join hand-off is under way on this worker.
  [[nodiscard]] bool running_inline() const noexcept { return inline_depth_ > 0; }

  /// Its counters, and its histograms with times in seconds at
  /// `seconds_per_cycle` (histogram/cycle_clock.hpp).
  [[nodiscard]] WorkerStats stats(double seconds_per_cycle) const noexcept;
  [[nodiscard]] bool histograms_on() const noexcept { return sampler_.on(); }
  /// A measured fiber's stack mark, from the thread of this worker it
  /// finished on (duet/detail/stackful_ops.hpp, record_fiber_stack_mark).
  void record_fiber_stack(std::uint64_t bytes) noexcept { sampler_.fiber_stack(bytes); }
  [[nodiscard]] unsigned index() const noexcept { return index_; }
  [[nodiscard]] int cpu() const noexcept { return cpu_; }
  [[nodiscard]] Scheduler& scheduler() noexcept { return sched_; }

  /// Tasks counted by this worker that are live and not listed in `owned`
  /// (spawned here, not parked yet) minus those it saw list or finish; the
  /// sum over the workers and the scheduler's outside count is exact when
  /// nothing moves (dump_tasks). Written by this worker only: a relaxed load
  /// and store, no locked instruction.
  void count_unlisted(std::int64_t d) noexcept {
    unlisted_.store(unlisted_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  [[nodiscard]] std::int64_t unlisted() const noexcept {
    return unlisted_.load(std::memory_order_relaxed);
  }

  // ---- the stall detector (stall_monitor.hpp) -------------------------
  /// Runs begun so far (WorkerStats::polls). Relaxed, as every statistic:
  /// the monitor compares two readings a period apart, and a stale one
  /// only delays a report by a period.
  [[nodiscard]] std::uint64_t runs() const noexcept { return stats_.polls.get(); }
  /// runs() when this worker last parked: equal to runs() while it has run
  /// nothing since (idle, not stalled). Relaxed, for the same reason.
  [[nodiscard]] std::uint64_t runs_at_park() const noexcept {
    return runs_at_park_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] StallCapture& stall_capture() noexcept { return stall_capture_; }
  /// The stall monitor, the counter's only writer.
  void count_stall() noexcept { stats_.stalls.inc(); }
  [[nodiscard]] std::thread::native_handle_type native_handle() noexcept {
    return thread_.native_handle();
  }

  LocalQueue queue;
  /// What this worker sleeps in and reaps I/O from (duet/detail/driver.hpp).
  std::unique_ptr<Driver> driver;
  /// Timers registered by tasks this worker polled (common/src/time/):
  /// fired in maintenance() and when a park times out.
  detail::TimerWheel timers{detail::now_tick()};

 private:
  friend class Scheduler;
  void run();
  /// The next entry to run (a ring's may be a held run: held_run.hpp).
  TaskHeader* next_task();
  /// next_task's own queues, in order: the LIFO slot, the ring, the
  /// pinned queue, the injection queue.
  TaskHeader* next_local_task();
  /// next_local_task's last two: the pinned queue, the injection queue.
  TaskHeader* next_pinned_or_injected();
  /// next_task when the tick's budget ran out: its maintenance and the
  /// injection queue's turn, or the end of the tick's timed run
  /// (run_sampler.hpp).
  TaskHeader* next_task_at_tick_end();
  /// The LIFO slot's task if it may run now (within lifo_cap runs in a row,
  /// or with the ring empty); past the cap it goes to the back, and null.
  TaskHeader* take_lifo() noexcept;
  TaskHeader* take_lifo_here() noexcept;  // the same, inline in worker.cpp
  /// End-of-tick work besides the injection queue: reap the driver.
  void maintenance();
  /// RuntimeConfig::idle_poll: polls the driver until an event or work
  /// arrives (true) or the window ends (false).
  bool poll_while_idle();
  /// Free slots in the run queue: how many events the driver may reap now.
  [[nodiscard]] std::size_t room() const noexcept { return queue.capacity() - queue.len(); }
  TaskHeader* next_from_injector();
  TaskHeader* steal_work();
  /// Runs the entry `e`: a task taken from a queue, or a held run from a
  /// ring (held_run.hpp); with the hand-offs and yields that follow it.
  /// Inlined into run(): a fiber is jumped into from the loop's own frame
  /// (flat_entry.hpp).
  [[gnu::always_inline]] inline void run_task(TaskHeader* e);
  /// One run of `t` (its transition to RUNNING returned `prev`) and the
  /// bookkeeping after it; the loop's step, without its fast paths.
  void run_once(TaskHeader* t, TaskSnapshot prev);
  /// The run of a task found CANCELLED: its future is dropped and it
  /// completes with Cancelled.
  void cancel_run(TaskHeader* t) noexcept;
  /// Whether `child` may run inside `joiner`'s poll, as far as their
  /// stacks go (run_child_inline).
  static bool may_run_inline(const TaskHeader* joiner, const TaskHeader* child) noexcept;
  /// Pushes a task, or a held run's entry, to the back of the ring (the
  /// injector when it is full).
  void push_back(TaskHeader* t) noexcept;
  /// run_ended for a run that ended pending: listed on its first park,
  /// then idle (requeued when woken meanwhile).
  void park_ended(TaskHeader* t) noexcept;
  void park();
  /// park()'s look at our own timers between sleeps: fires what is due,
  /// except under a test clock, whose steps alone fire timers then.
  std::size_t fire_due_while_parked();
  /// How long the next sleep in park() may last: until the next timer, and
  /// for the watcher with another worker awake, one watch period at most.
  std::optional<std::chrono::nanoseconds> park_timeout();
  /// The watcher's look at the other workers' LIFO slots: takes into our
  /// ring the task of each worker that stayed inside one poll for at least
  /// a watch period. Returns how many it took.
  unsigned take_stuck_lifo_tasks();
  /// One worker of that look: its LIFO task if its poll count still reads
  /// `seen_polls` (which is updated) and `may_take`.
  static TaskHeader* take_if_stuck(Worker& w, std::uint64_t& seen_polls, bool may_take);
  void end_search();
  /// Work was queued here that another worker could take: wake one if none
  /// is searching. A worker with no peers skips it (the seq_cst fence in
  /// Idle::worker_to_notify is the costliest instruction of a yield; only
  /// a thread outside the runtime, through the injector, ever needs to wake
  /// a lone worker).
  void notify_peers() noexcept;
  std::uint32_t rand() noexcept {
    // xorshift32: victim choice needs speed, not quality.
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 17;
    rng_ ^= rng_ << 5;
    return rng_;
  }

  Scheduler& sched_;
  const unsigned index_;
  const int cpu_;
  LifoSlot lifo_;
  // The tasks pinned to this worker: the only queue they enter.
  PinnedQueue pinned_;
  std::uint32_t lifo_runs_ = 0;
  std::uint32_t budget_;
  std::uint32_t rng_;
  // Which runs and wake-ups the histograms sample (run_sampler.hpp); what
  // they record is at the end (sampled_).
  RunSampler sampler_;
  /// A run of `t` starts: counted, and offered to the sampler. Every run
  /// start goes through here.
  [[gnu::always_inline]] void count_run(TaskHeader* t) noexcept {
    stats_.polls.inc();
    sampler_.run_started(t);
  }
  // The ParkStamp (task_header.hpp) a park stores: this worker and its
  // coarse clock, now_tick() at the thread's start, at each tick's
  // maintenance and after each sleep (read_coarse_clock).
  std::uint64_t park_stamp_ = 0;
  void read_coarse_clock() noexcept { park_stamp_ = ParkStamp{now_tick(), index_}.bits(); }
  [[nodiscard]] std::uint64_t coarse_tick() const noexcept {
    return park_stamp_ >> ParkStamp::worker_bits;
  }
  /// The housekeeping turn for parked fibers' stacks at a tick's end
  /// (Scheduler::trim_if_due): a busy worker looks when a look is due, and
  /// wants one a period on when none is.
  void trim_turn_while_busy() noexcept;
  bool searching_ = false;
  const bool alone_;  // the runtime's only worker
  // Children being run inside their joiners' polls (run_child_inline).
  std::uint32_t inline_depth_ = 0;
  // The child the innermost join hand-off runs: its completion may be a
  // plain store (state.hpp, to_complete_joined).
  TaskHeader* joined_inline_ = nullptr;
  // A task that a fiber's hand-off took but did not switch to: run next.
  NextTask handed_{};
  // The watcher's last look: each worker's poll count, and when.
  bool watching_ = false;
  std::vector<std::uint64_t> seen_polls_;
  std::chrono::steady_clock::time_point seen_at_{};
  std::thread thread_;
  std::atomic<std::int64_t> unlisted_{0};
  std::atomic<std::uint64_t> runs_at_park_{0};
  StallCapture stall_capture_;

  struct {
    // `polls` also tells the watcher whether this worker is still inside
    // the poll it saw last time.
    Counter polls, lifo_hits, steals, steal_attempts, injector_pops, overflows, parks, yields,
        lifo_steals, hand_offs, inline_joins, stalls;
  } stats_;
  SampledHistograms sampled_;
};

}  // namespace duet::detail

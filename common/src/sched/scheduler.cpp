// scheduler.cpp: a runtime's scheduler: its workers built and started,
// spawns and wakes routed to a worker or the injection queue, shutdown, and
// the drain before it (docs/drain.md).
#include "scheduler.hpp"
#include "duet/detail/fork.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <thread>

#include "duet/detail/current.hpp"
#include "duet/join_handle.hpp"
#include "duet/time/sleep.hpp"
#include "duet/topology.hpp"
#include "held_run.hpp"
#include "task/harness.hpp"
#include "task/schedule.hpp"
#include "task_name.hpp"
#include "thread_context.hpp"

namespace duet::detail {

// How often a drain looks whether every task has finished.
constexpr std::chrono::milliseconds kDrainPoll{1};

// The newest runtime alive: where stackful/gdb/duet-gdb.py starts when not
// told which runtime to list. Relaxed: a debugger reads it with the process
// stopped.
std::atomic<Scheduler*> g_gdb_last_scheduler{nullptr};

namespace {
unsigned resolve_workers(const RuntimeConfig& cfg) {
  if (cfg.workers != 0) return cfg.workers;
  unsigned n = Topology::machine().cores();
  return n == 0 ? 1 : n;
}

/// Does a parked worker watch for tasks stuck in a LIFO slot? Only with
/// another worker to watch, the slot in use, the knob on, and a kernel that
/// lets thieves fence the owners (LifoSlot::stealing_supported).
bool watches_lifo_slots(const RuntimeConfig& cfg) {
  return resolve_workers(cfg) > 1 && cfg.lifo_cap > 0 && cfg.lifo_steal_after.count() > 0 &&
         LifoSlot::stealing_supported();
}
/// RuntimeConfig::fiber_stack_trim_after in coarse ticks: 0 stays 0 (off),
/// anything else is at least one tick.
std::uint64_t trim_ticks(std::chrono::nanoseconds d) noexcept {
  if (d.count() <= 0) return 0;
  const auto t = static_cast<std::uint64_t>(d.count()) >> tick_shift;
  return t == 0 ? 1 : t;
}
}  // namespace

Scheduler::Scheduler(Runtime& rt, RuntimeConfig c)
    : runtime(rt),
      cfg(std::move(c)),
      idle(resolve_workers(cfg), watches_lifo_slots(cfg)),
      owned(4 * resolve_workers(cfg)),
      trim_after_ticks(trim_ticks(cfg.fiber_stack_trim_after)) {
  check_not_forked("constructing a duet::Runtime");
  fork_guard_arm();  // before the first worker starts
  if (cfg.tick_budget == 0) throw std::invalid_argument("duet: tick_budget must be at least 1");
  if (cfg.stall_threshold.count() < 0) {
    throw std::invalid_argument("duet: stall_threshold must not be negative");
  }
  if (cfg.fiber_stack_trim_after.count() < 0) {
    throw std::invalid_argument("duet: fiber_stack_trim_after must not be negative");
  }
  if (cfg.lifo_steal_after.count() < 0) {
    throw std::invalid_argument("duet: lifo_steal_after must not be negative");
  }
  // The io_uring driver checks them too, but a driver that fails to start
  // falls back to epoll: a setting wrong on every machine is refused here.
  const auto pow2 = [](std::uint32_t v) { return (v & (v - 1)) == 0; };
  if (cfg.io_recv_buffers > 32768 || !pow2(cfg.io_recv_buffers) || cfg.io_recv_buffer_size == 0) {
    throw std::invalid_argument(
        "duet: io_recv_buffers must be a power of two <= 32768 and io_recv_buffer_size > 0");
  }
  if (cfg.io_recv_buffers_max < cfg.io_recv_buffers || cfg.io_recv_buffers_max > 32768 ||
      !pow2(cfg.io_recv_buffers_max)) {
    throw std::invalid_argument(
        "duet: io_recv_buffers_max must be a power of two, at least io_recv_buffers and <= 32768");
  }
  // Before the workers: their wheels start at the test clock's time.
  if (cfg.clock != ClockMode::real) {
    test_clock = std::make_unique<TestClock>(*this, cfg.clock == ClockMode::paused);
  }
  const unsigned n = resolve_workers(cfg);
  auto cpus = Topology::machine().cpus_for(cfg.placement, n);
  workers.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    workers.push_back(std::make_unique<Worker>(*this, i, cpus.empty() ? -1 : cpus[i]));
  }
  for (auto& w : workers) w->start();
  if (cfg.stall_threshold.count() > 0) stall_monitor = std::make_unique<StallMonitor>(*this);
  g_gdb_last_scheduler.store(this, std::memory_order_relaxed);
}

Scheduler::~Scheduler() {
  Scheduler* self = this;
  g_gdb_last_scheduler.compare_exchange_strong(self, nullptr, std::memory_order_relaxed);
  shutdown();
  // Acquire: pairs with the release decrement in schedule(); after this
  // no outside thread touches a worker's driver.
  while (outside_wakes_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

// The calling thread's worker when it is one of ours, else null. Inline,
// like the two below: every spawn, wake and first park asks.
[[gnu::always_inline]] inline Worker* Scheduler::own_worker() const noexcept {
  Worker* w = tl_context.worker;
  return w != nullptr && &w->scheduler() == this ? w : nullptr;
}

// Inline: twice per spawn+join (docs/performance-log.md, "Hot-path trims of
// spawn+join").
[[gnu::always_inline]] inline void Scheduler::count_unlisted(Worker* w, std::int64_t d) noexcept {
  if (w != nullptr) {
    w->count_unlisted(d);
  } else {
    // Relaxed: a statistic read by dump_tasks only.
    unlisted_outside_.fetch_add(d, std::memory_order_relaxed);
  }
}

template <std::uint8_t closed_at>
[[gnu::always_inline]] inline bool Scheduler::schedule_on(Worker* w, TaskHeader* t) noexcept {
  if (w == nullptr || phase_.load(std::memory_order_acquire) >= closed_at) return false;
  // A task waking a task (message passing) hands it the LIFO slot: it
  // runs next, while what it needs is hot in cache. A wake from the worker
  // loop itself (I/O completions, timers: no task running) goes to the
  // back: a batch of completions then runs in the order the kernel
  // reported it, and none overtakes the tasks already queued (tail latency
  // with many connections).
  w->schedule_local(t, running_task() == nullptr);
  return true;
}

std::size_t Scheduler::unlisted_tasks() const noexcept {
  std::int64_t n = unlisted_outside_.load(std::memory_order_relaxed);
  for (const auto& w : workers) n += w->unlisted();
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

void Scheduler::submit_new(TaskHeader* t) {
  t->sched = this;
  // A tail call: the common path keeps no frame for the knob's call.
  if (slow_spawn_) [[unlikely]]
    return submit_slow(t);
  // The worker is looked up once for the count and the queue.
  Worker* w = own_worker();
  count_unlisted(w, 1);
  // A spawn on one of our workers is taken until kShutDown, as a wake is
  // (the same one load and test); one from elsewhere is refused once a
  // drain began (submit_off_worker).
  if (schedule_on<kShutDown>(w, t)) return;
  submit_off_worker(t);
}

[[gnu::noinline]] void Scheduler::submit_slow(TaskHeader* t) {
  // Seen and listed before the queue push: the task is this thread's alone
  // until then. A listed task is not counted as unlisted: it never is.
  if (spawn_observer_ != nullptr) spawn_observer_->spawned(t);
  Worker* w = own_worker();
  if (cfg.list_all_tasks) {
    list_at_spawn(t);
    owned.insert(t);
  } else {
    count_unlisted(w, 1);
  }
  if (schedule_on<kShutDown>(w, t)) return;
  submit_off_worker(t);
}

bool Scheduler::refuse_if_closed(TaskHeader* t) {
  if (drain_begun_.load(std::memory_order_acquire)) {
    // Never run: cancelled here (its future or function destroyed), then
    // the queue reference and the handle's, which nobody will hold.
    cancel_now(t);
    release_after_completion(t);
    drop_join_handle(t);
    throw SpawnRefused();
  }
  if (is_shutdown()) {
    // Too late to run: cancel at once so the joiner sees Cancelled, and
    // drop the queue reference it will never use.
    cancel_now(t);
    release_after_completion(t);
    return true;
  }
  return false;
}

void Scheduler::submit_off_worker(TaskHeader* t) {
  // Before the injector's lock, which a thread that was not copied into a
  // forked child may hold.
  check_not_forked("a spawn from a plain thread");
  if (!refuse_if_closed(t)) schedule_from_outside(t);
}

void Scheduler::schedule(TaskHeader* t) noexcept {
  if (!schedule_on<kShutDown>(own_worker(), t)) schedule_from_outside(t);
}

void Scheduler::submit_pinned(TaskHeader* t, unsigned home) {
  t->sched = this;
  pin_at_spawn(t, home);
  if (spawn_observer_ != nullptr) spawn_observer_->spawned(t);
  if (cfg.list_all_tasks) {
    list_at_spawn(t);
    owned.insert(t);
  } else {
    count_unlisted(own_worker(), 1);
  }
  // As submit_new: from one of our workers, taken until kShutDown.
  const std::uint8_t phase = phase_.load(std::memory_order_acquire);
  const bool closed = phase == kShutDown || (phase == kDraining && own_worker() == nullptr);
  if (closed && refuse_if_closed(t)) return;
  schedule_pinned(t);
}

void Scheduler::schedule_pinned(TaskHeader* t) noexcept {
  // Relaxed: the home is written before the task is published, and never
  // again (state.hpp); whoever holds a reference has seen the publication.
  Worker& home = *workers[t->load(std::memory_order_relaxed).home()];
  if (own_worker() == &home) {
    home.schedule_pinned_here(t);
    return;
  }
  // As schedule_from_outside: the unpark may come after the task ran and
  // its joiner began to destroy the runtime (the destructor waits).
  outside_wakes_.fetch_add(1, std::memory_order_relaxed);
  home.schedule_pinned_from_elsewhere(t);
  // Release: the unpark above happens before the destructor's acquire load.
  outside_wakes_.fetch_sub(1, std::memory_order_release);
}

// task/schedule.hpp: the harness's wakes, each the one call it made before.
void schedule_woken(TaskHeader* t) noexcept {
  t->sched->schedule(t);
}
void schedule_woken_pinned(TaskHeader* t) noexcept {
  t->sched->schedule_pinned(t);
}

void Scheduler::requeue(TaskHeader* t) noexcept {
  // Relaxed: PINNED never changes once published.
  if (t->load(std::memory_order_relaxed).is_pinned()) {
    schedule_pinned(t);
  } else {
    schedule(t);
  }
}

void Scheduler::schedule_from_outside(TaskHeader* t) noexcept {
  // Counted before the push: whoever sees the task run (and may destroy
  // the runtime) sees the count (the push and the pop order them). Relaxed
  // increment: the injector's mutex publishes it with the task.
  outside_wakes_.fetch_add(1, std::memory_order_relaxed);
  injector.push(t);
  notify_parked();
  // Release: the unpark above happens before the destructor's acquire load.
  outside_wakes_.fetch_sub(1, std::memory_order_release);
}

void Scheduler::notify_parked() noexcept {
  int w = idle.worker_to_notify();
  if (w >= 0) workers[static_cast<unsigned>(w)]->driver->unpark();
}

void Scheduler::wake_watcher() noexcept {
  int w = idle.take_asleep_watcher();
  if (w >= 0) workers[static_cast<unsigned>(w)]->driver->unpark();
}

bool Scheduler::has_stealable_work() const noexcept {
  // Pairs with the fence in Idle::worker_to_notify (Dekker): our counter
  // update is ordered before these reads of the queues.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!injector.is_empty()) return true;
  for (const auto& w : workers) {
    if (!w->queue.is_empty()) return true;
  }
  return false;
}

bool Scheduler::has_pending_work() const noexcept {
  if (has_stealable_work()) return true;
  for (const auto& w : workers) {
    // A pinned task woken from outside waits in its home's inbox until the
    // home, unparked by the waker, takes it (the home's own list is its
    // thread's alone, and never left behind by a park).
    if (w->pinned_.inbox_nonempty()) return true;
  }
  return false;
}

void Scheduler::finish(TaskHeader* t) noexcept {
  publish_completion(t);
  release_after_completion(t);
}

void Scheduler::release_after_completion(TaskHeader* t) noexcept {
  // Only the thread that completed the task reads LISTED now: nobody else
  // sets or clears it after completion.
  const bool listed = t->load(std::memory_order_relaxed).is_listed();
  if (listed) {
    owned.remove(t);
  } else {
    count_unlisted(own_worker(), -1);
  }
  if (release_run(t, listed)) t->vtable->destroy(t);
}

void Scheduler::cancel_now(TaskHeader* t) noexcept {
  // Mark it running so that wakes during the cancellation do not queue it.
  (void)start_run<RunStart::for_cancel>(t);
  cancel_running(t);
}

void Scheduler::cancel_running(TaskHeader* t) noexcept {
  TaskHeader* outer = current_task();
  set_current_task(t);
  t->vtable->cancel(t);
  set_current_task(outer);
  publish_completion(t);
}

void Scheduler::shutdown() {
  if (phase_.exchange(kShutDown, std::memory_order_acq_rel) == kShutDown) return;
  shutdown_token.cancel();  // no-op after a drain's
  stall_monitor.reset();    // it signals workers: stop it before they exit
  for (unsigned i = 0; i < workers.size(); ++i) {
    int next_watcher = -1;  // every worker is woken here anyway
    idle.unpark_worker_by_id(i, next_watcher);
    workers[i]->driver->unpark();
  }
  // Every worker leaves its loop and waits; the tasks are cancelled here
  // (dropping their futures queues I/O cancels on the workers' drivers);
  // then each worker drains its own driver and exits.
  {
    std::unique_lock lk(stop_mu_);
    stop_cv_.wait(lk, [&] { return workers_stopped_ == workers.size(); });
  }
  cancel_everything();
  {
    std::lock_guard lk(stop_mu_);
    drain_ = true;
  }
  stop_cv_.notify_all();
  for (auto& w : workers) w->join();
  stopped_.store(true, std::memory_order_release);
}

void Scheduler::worker_stopped_wait_for_drain() {
  std::unique_lock lk(stop_mu_);
  ++workers_stopped_;
  stop_cv_.notify_all();
  stop_cv_.wait(lk, [&] { return drain_; });
}

void Scheduler::cancel_everything() {
  // Workers are gone. Every task is now queued (it holds a queue
  // reference), listed (parked: the list holds one), both, or complete.
  // Cancel each unfinished one here, on the thread that shuts down.
  // Cancelling runs destructors and fiber unwinding, which may wake or spawn
  // (into the injector): loop until the queues and the list are empty.
  auto drain_one = [this](TaskHeader* e) {
    if (is_held(e)) {
      // A yielded task, still RUNNING (held_run.hpp): cancel the run it holds.
      TaskHeader* t = held_task(e);
      note_cancelled(t);
      cancel_running(t);
      release_after_completion(t);
      return;
    }
    TaskHeader* t = e;
    if (t->load().is_complete()) {
      t->unref();  // woken after it was cancelled: just the queue reference
      return;
    }
    // A listed task stays listed while it is cancelled (nothing else runs
    // now); release_after_completion unlists it exactly once. (Unlisting it
    // here as well unlinked an already unlinked node and cut off the rest
    // of its shard: those tasks were never cancelled, and leaked.)
    note_cancelled(t);
    cancel_now(t);
    release_after_completion(t);
  };
  for (;;) {
    bool any = false;
    for (auto& w : workers) {
      if (TaskHeader* t = w->lifo_.take()) {
        drain_one(t);
        any = true;
      }
      while (TaskHeader* t = w->queue.pop()) {
        drain_one(t);
        any = true;
      }
      while (TaskHeader* t = w->pinned_.pop()) {
        drain_one(t);
        any = true;
      }
    }
    while (TaskHeader* t = injector.pop()) {
      drain_one(t);
      any = true;
    }
    while (TaskHeader* t = owned.pop_any()) {
      any = true;
      if (!t->load().is_complete()) note_cancelled(t);
      cancel_now(t);
      t->unref();  // the list reference (it is in no queue)
    }
    if (!any) break;
  }
}

// ---- drain ----------------------------------------------------------------

DrainReport Scheduler::drain(std::chrono::nanoseconds deadline) {
  if (own_worker() != nullptr) {
    throw std::logic_error(
        "duet: Runtime::drain called on one of the runtime's own workers (it would wait for "
        "itself); call it from a thread outside the runtime");
  }
  if (drain_begun_.exchange(true, std::memory_order_acq_rel)) {
    throw std::logic_error("duet: Runtime::drain called a second time");
  }
  // From here on no spawn from outside is taken (it reads drain_begun_); a
  // worker's is, until the shutdown (it reads the phase). A live task must
  // exist to spawn one, so a set of live tasks found empty stays empty.
  std::uint8_t open = kOpen;
  phase_.compare_exchange_strong(open, kDraining, std::memory_order_acq_rel);
  // Every task that waits on the token learns the drain began; its
  // callbacks and wakes run here, on the draining thread.
  shutdown_token.cancel();
  DrainReport report;
  // Saturated: drain(nanoseconds::max()) has no deadline.
  const auto until = saturating_add(std::chrono::steady_clock::now(), deadline);
  // The live count is a sum of per-worker counters and the list of parked
  // tasks, exact when nothing moves; a task moving from uncounted to listed
  // moves once, so two empty readings a poll apart mean no task is left.
  int empty_readings = 0;
  for (;;) {
    empty_readings = no_live_tasks() ? empty_readings + 1 : 0;
    if (empty_readings == 2) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) break;
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(until - now, kDrainPoll));
  }
  cancel_report_ = &report.cancelled;
  shutdown();
  cancel_report_ = nullptr;
  report.finished_in_time = report.cancelled.empty();
  return report;
}

bool Scheduler::no_live_tasks() noexcept {
  if (unlisted_tasks() != 0) return false;
  bool any = false;
  owned.for_each([&](TaskHeader*) { any = true; });
  return !any;
}

void Scheduler::note_cancelled(TaskHeader* t) {
  if (cancel_report_ == nullptr) return;
  CancelledTask c{static_cast<CancelledTask::Kind>(t->vtable->kind)};
  c.function = task_function(t);  // nothing runs t: the workers are gone
  if (const StackfulOps* ops = t->vtable->stackful) {
    const TaskSite site = ops->site(t);
    c.file = site.file;
    c.line = site.line;
    c.name = site.name;
  }
  cancel_report_->push_back(c);
}

// ---- entry points of detail/current.hpp ----------------------------------

void submit_pinned(Scheduler* s, TaskHeader* t, unsigned home) {
  s->submit_pinned(t, home);
}

void submit_new(Scheduler* s, TaskHeader* t) {
  s->submit_new(t);
}

void set_spawn_observer(Scheduler* s, SpawnObserver* o) noexcept {
  s->set_spawn_observer(o);
}

void report_detached_exception(TaskHeader* t, std::exception_ptr e) noexcept {
  Scheduler* s = t->sched;
  if (s != nullptr && s->cfg.on_detached_exception) {
    try {
      s->cfg.on_detached_exception(e);
    } catch (...) {
    }
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "duet: a detached task threw: %s\n", ex.what());
  } catch (...) {
    std::fprintf(stderr, "duet: a detached task threw a non-std exception\n");
  }
}

// ---- time/test_clock.hpp: the runtime as its test clock reaches it -------

std::size_t worker_count(const Scheduler& s) noexcept {
  return s.workers.size();
}
TimerWheel& worker_timers(Scheduler& s, std::size_t i) noexcept {
  return s.workers[i]->timers;
}
void wake_first_worker(Scheduler& s) noexcept {
  s.workers.front()->driver->unpark();
}
bool runtime_quiescent(const Scheduler& s) noexcept {
  return s.idle.num_unparked() == 0 && !s.has_pending_work();
}
bool runtime_shut_down(const Scheduler& s) noexcept {
  return s.is_shutdown();
}
TestClock* test_clock_of(const Scheduler& s) noexcept {
  return s.test_clock.get();
}

}  // namespace duet::detail

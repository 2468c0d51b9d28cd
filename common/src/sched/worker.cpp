// worker.cpp: a worker thread's loop (run a task, then its bookkeeping:
// park, requeue, complete), its queues' local side (LIFO slot, ring,
// stealing, the injection queue's turn), the join hand-off, and the
// worker's half of a fiber's direct hand-off (duet/detail/hand_off.hpp).
// A fiber is entered from the loop's frame (flat_entry.hpp).
#include "worker.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "duet/detail/cpu_relax.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/random.hpp"
#include "duet/topology.hpp"
#include "flat_entry.hpp"
#include "held_run.hpp"
#include "scheduler.hpp"
#include "task/harness.hpp"
#include "task/schedule.hpp"
#include "thread_context.hpp"

namespace duet::detail {

Worker::Worker(Scheduler& s, unsigned index, int cpu)
    : queue(s.cfg.local_queue_capacity),
      driver(make_driver(s.cfg, index)),
      sched_(s),
      index_(index),
      cpu_(cpu),
      budget_(s.cfg.tick_budget),
      // Nonzero (xorshift's one fixed point is 0).
      rng_(s.cfg.seed ? static_cast<std::uint32_t>(mix_seed(*s.cfg.seed, index)) | 1u
                      : 0x9e3779b9u * (index + 1)),
      sampler_(s.cfg.histogram_sample_every, sampled_),
      alone_(s.idle.num_workers() == 1) {}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

WorkerStats Worker::stats(double seconds_per_cycle) const noexcept {
  return WorkerStats{stats_.polls.get(),
                     stats_.lifo_hits.get(),
                     stats_.steals.get(),
                     stats_.steal_attempts.get(),
                     stats_.injector_pops.get(),
                     stats_.overflows.get(),
                     stats_.parks.get(),
                     stats_.yields.get(),
                     stats_.lifo_steals.get(),
                     stats_.hand_offs.get(),
                     stats_.inline_joins.get(),
                     stats_.stalls.get(),
                     sampler_.snapshot(seconds_per_cycle)};
}

// Inline here (their only callers are in this file): a yield that lands on
// another fiber pushes its run back and checks for peers on every switch.
inline void Worker::notify_peers() noexcept {
  if (!searching_ && !alone_) sched_.notify_parked();
}

void Worker::schedule_pinned_from_elsewhere(TaskHeader* t) noexcept {
  pinned_.push_inbox(t);
  // After the push: a park that began before it sees the token this
  // leaves and looks again (pinned_queue.hpp).
  driver->unpark();
}

inline void Worker::push_back(TaskHeader* t) noexcept {
  if (queue.push_back_or_overflow(t, sched_.injector)) stats_.overflows.inc();
}

// Inline into the join hand-off (run_child_inline) as well as here: the
// hand-off's spawn+join path has no call to spare (docs/performance-log.md,
// "Hot-path trims of spawn+join").
inline TaskHeader* Worker::take_lifo_here() noexcept {
  TaskHeader* t = lifo_.take();
  if (t == nullptr) return nullptr;
  // Within the cap, or with nothing else in the ring (whose back is then its
  // front), the slot's task runs now. Pushing it to an empty ring starved
  // nobody and only woke an idle worker to steal it: a spawn+join loop on
  // two workers then bounced between them (docs/performance-log.md, "The
  // joiner in the LIFO slot").
  if (lifo_runs_ < sched_.cfg.lifo_cap || queue.is_empty()) {
    if (lifo_runs_ < sched_.cfg.lifo_cap) ++lifo_runs_;
    stats_.lifo_hits.inc();
    return t;
  }
  // The slot had its turns (lifo_cap): its task goes behind the others.
  push_back(t);
  return nullptr;
}

TaskHeader* Worker::take_lifo() noexcept {
  return take_lifo_here();
}

void Worker::schedule_local(TaskHeader* t, bool to_back) {
  sampler_.queuing(t);
  if (!to_back && sched_.cfg.lifo_cap > 0) {
    TaskHeader* prev = lifo_.push(t);
    // Only the watcher may take a task from the slot, and only once we have
    // stayed in one poll for a watch period; if it sleeps without a timeout
    // (everyone else was parked), wake it. Otherwise a task alone in the
    // slot needs no other worker: no wake-up (this is what keeps a
    // ping-pong pair on one core cheap).
    if (sched_.idle.watcher_asleep()) sched_.wake_watcher();
    if (prev == nullptr) return;
    t = prev;
  }
  if (queue.push_back_or_overflow(t, sched_.injector)) stats_.overflows.inc();
  // A searching worker will find it; otherwise maybe wake one.
  notify_peers();
}

void Worker::run() {
  tl_context.worker = this;
  tl_context.driver = driver.get();
  tl_context.timers = &timers;
  // Every random choice of the tasks this thread runs replays from the seed.
  if (sched_.cfg.seed) seed_thread_random(mix_seed(*sched_.cfg.seed, index_ + 0x10000u));
  if (cpu_ >= 0) Topology::pin_current_thread(cpu_);
  read_coarse_clock();
  driver->on_worker_start();
  while (!sched_.is_shutdown()) {
    TaskHeader* t = next_task();
    if (t == nullptr) t = steal_work();
    // Still searching: spin a little before sleeping (see
    // RuntimeConfig::search_spins); other workers skip waking us meanwhile.
    for (std::uint32_t i = 0; t == nullptr && searching_ && i < sched_.cfg.search_spins; ++i) {
      cpu_relax();
      t = next_task();
      if (t == nullptr) t = steal_work();
    }
    if (t != nullptr) {
      run_task(t);
      continue;
    }
    // Nothing runnable: reap the driver and fire due timers once more
    // before sleeping.
    if (driver->poll(room()) > 0) continue;
    if (timers.fire_due() > 0) continue;
    if (sched_.cfg.idle_poll.count() > 0 && poll_while_idle()) continue;
    park();
  }
  sched_.worker_stopped_wait_for_drain();
  driver->on_worker_stop();
  tl_context.timers = nullptr;
  tl_context.driver = nullptr;
  tl_context.worker = nullptr;
}

TaskHeader* Worker::next_from_injector() {
  if (sched_.injector.is_empty()) return nullptr;
  // Take a fair share (not more than half our ring) so that other workers
  // find some too; run the first, queue the rest locally.
  const std::size_t n_workers = sched_.workers.size();
  std::size_t want = sched_.injector.len() / n_workers + 1;
  std::size_t cap = queue.capacity() / 2;
  std::size_t room = queue.capacity() - queue.len();
  if (want > cap) want = cap;
  if (want > room + 1) want = room + 1;
  // In chunks of a few pointers: this may run on a fiber's stack (a direct
  // hand-off does the worker's bookkeeping on the way).
  constexpr std::size_t kChunk = 32;
  TaskHeader* chunk[kChunk];
  TaskHeader* first = nullptr;
  std::size_t n = 0;
  while (n < want) {
    const std::size_t got = sched_.injector.pop_batch(chunk, std::min(kChunk, want - n));
    if (got == 0) break;
    std::size_t i = 0;
    if (first == nullptr) first = chunk[i++];
    for (; i < got; ++i) {
      if (queue.push_back_or_overflow(chunk[i], sched_.injector)) stats_.overflows.inc();
    }
    n += got;
    if (got < kChunk) break;
  }
  if (first == nullptr) return nullptr;
  stats_.injector_pops.inc(n);
  if (n > 1) notify_peers();
  return first;
}

TaskHeader* Worker::next_task() {
  if (--budget_ == 0) [[unlikely]]
    return next_task_at_tick_end();
  return next_local_task();
}

inline TaskHeader* Worker::next_local_task() {
  if (TaskHeader* t = take_lifo()) return t;
  lifo_runs_ = 0;
  if (TaskHeader* t = queue.pop()) return t;
  return next_pinned_or_injected();
}

// Out of line: inlined, the pinned queue's pop made next_task keep more
// registers on every call (docs/performance-log.md, "Pinned tasks").
[[gnu::noinline]] TaskHeader* Worker::next_pinned_or_injected() {
  if (TaskHeader* t = pinned_.pop()) return t;
  return next_from_injector();
}

[[gnu::noinline]] TaskHeader* Worker::next_task_at_tick_end() {
  // The tick's timed run has returned (run_sampler.hpp): the tick goes on
  // with the budget it had, unless that was its last run.
  if (sampler_.slice_open()) [[unlikely]] {
    budget_ = sampler_.close_slice();
    if (budget_ != 0) return next_local_task();
  }
  // End of a tick: the pinned queue's turn, then the injection queue's,
  // before the driver's poll: neither waits behind a busy ring for more
  // than a tick. The injector's share is bounded by the ring's room, and
  // the poll fills that room with wakes, so taken after it the share
  // shrinks to one task a tick while the ring stays full: tasks that
  // overflowed the ring (a burst of spawns) would wait behind every wake.
  // Taken first, they have the room a tick's runs freed; the driver's
  // events wait for the next tick in the kernel (or its completion queue).
  budget_ = sched_.cfg.tick_budget;
  TaskHeader* t = pinned_.pop();
  if (t == nullptr) t = next_from_injector();
  maintenance();
  if (t != nullptr) {
    lifo_runs_ = 0;
  } else {
    t = next_local_task();
  }
  if (t != nullptr && sampler_.on()) budget_ = sampler_.open_slice(budget_);
  return t;
}

bool Worker::poll_while_idle() {
  // Not parked and not searching: spawners do not wake us (they go to the
  // injector, checked here), and the driver is polled without sleeping.
  const auto until = saturating_add(std::chrono::steady_clock::now(), sched_.cfg.idle_poll);
  for (;;) {
    for (int i = 0; i < 32; ++i) cpu_relax();
    if (driver->poll(room()) > 0 || lifo_.peek() != nullptr || !queue.is_empty()) return true;
    if (!sched_.injector.is_empty() || pinned_.maybe_nonempty() || sched_.is_shutdown()) {
      return true;
    }
    if (timers.fire_due() > 0) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
  }
}

void Worker::maintenance() {
  read_coarse_clock();
  // Completions that arrived while we were busy wake their tasks into the
  // back of our ring, as many as it has room for (Scheduler::schedule).
  driver->poll(room());
  // Due timers wake their tasks into the back of our ring (one clock read a
  // tick, and none when no timer is pending).
  timers.fire_due();
  if (sched_.trim_after_ticks != 0) trim_turn_while_busy();
}

void Worker::trim_turn_while_busy() noexcept {
  const std::uint64_t now = coarse_tick();
  // Relaxed: when to look, nothing more (Scheduler::want_trim_by).
  const std::uint64_t due = sched_.trim_due.load(std::memory_order_relaxed);
  if (due <= now) {
    sched_.trim_if_due(now);
  } else if (due == Scheduler::trim_none) {
    sched_.want_trim_by(now + sched_.trim_after_ticks);
  }
}

TaskHeader* Worker::steal_work() {
  if (!searching_) {
    searching_ = sched_.idle.transition_worker_to_searching();
    if (!searching_) return nullptr;
  }
  const auto n = static_cast<std::uint32_t>(sched_.workers.size());
  const std::uint32_t start = rand() % n;
  std::uint64_t stolen = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    auto v = (start + i) % n;
    if (v == index_) continue;
    stats_.steal_attempts.inc();
    if (TaskHeader* t = sched_.workers[v]->queue.steal_into(queue, stolen)) {
      stats_.steals.inc(stolen);
      return t;
    }
  }
  return next_from_injector();
}

void Worker::end_search() {
  searching_ = false;
  // The last searcher found work: there may be more, so wake another.
  if (sched_.idle.transition_worker_from_searching()) sched_.notify_parked();
}

inline void Worker::cancel_run(TaskHeader* t) noexcept {
  // As the task: its joiner is woken by a task, into the LIFO slot.
  run_as(t);
  t->vtable->cancel(t);
  sched_.finish(t);
  end_run_as();
}

// ---- the loop's run of a task ---------------------------------------------

namespace {

// One run of `t` from the loop: a fiber with a flat entry is jumped into
// from the loop's frame (flat_entry.hpp), anything else is called.
[[gnu::always_inline]] inline RunResult run_in_loop(TaskHeader* t) {
#ifdef DUET_FLAT_JUMP
  const StackfulOps* ops = t->vtable->stackful;
  if (ops != nullptr && ops->flat_enter != nullptr) {
    // Read before the jump: `t` may be freed by the time the loop resumes
    // (it handed over to other fibers and finished, and its last reference
    // went with the hand-off).
    const auto entered = ops->flat_entered;
    const FlatEntry e = ops->flat_enter(t);
    if (e.ctx != nullptr) return entered(enter_flat(e));
  }
#endif
  return t->vtable->run(t);
}
}  // namespace

inline void Worker::park_ended(TaskHeader* t) noexcept {
  // First park: list it so shutdown can find it (it is still ours, so
  // the insert cannot race with its completion).
  const TaskSnapshot s = t->load(std::memory_order_relaxed);
  const bool list = !s.is_listed();
  if (list) {
    sched_.owned.insert(t);
    count_unlisted(-1);
  }
  // For dumps: where and when it last ran. The park's transition below
  // publishes it (task_header.hpp, ParkStamp).
  ParkStamp::store(t, park_stamp_);
  // Woken or cancelled while it ran: it goes to the back, like a yield
  // (a pinned task to the back of its own queue: PINNED never changes, so
  // the word read above still says).
  if (park_run(t, list)) {
    if (s.is_pinned()) [[unlikely]] {
      pinned_.push_here(t);
    } else {
      schedule_local(t, true);
    }
  }
}

// Inline into each caller (the loop, run_once, the hand-off's entry): one
// dispatch on the result, and no call between the entry and its case.
[[gnu::always_inline]] inline void Worker::run_ended(TaskHeader* t, RunResult r) noexcept {
  switch (r) {
    case RunResult::complete:
      // A fiber publishes its completion before its last switch
      // (hand_off.hpp); only this thread did, so a relaxed load sees it.
      if (const TaskSnapshot s = t->load(std::memory_order_relaxed); !s.is_complete()) {
        // Published as the finished task, not as the loop: its joiner is a
        // task woken by a task, so it takes the LIFO slot and runs next,
        // here. (Woken from the loop it would go to the back of the ring,
        // and an idle worker would be woken to steal it: spawn+join on two
        // workers would bounce between them; docs/performance-log.md, "The
        // joiner in the LIFO slot".)
        run_as(t);
        const bool released = complete_run(t, s, t == joined_inline_);
        end_run_as();
        if (released) {
          count_unlisted(-1);  // as release_after_completion would
          return;
        }
      }
      sched_.release_after_completion(t);
      return;
    case RunResult::pending:
      park_ended(t);
      return;
    case RunResult::yielded:
      // The run is held, not ended: no transition now and none when it is
      // taken again (held_run.hpp).
      stats_.yields.inc();
      // Relaxed: PINNED is written before the task is published.
      if (t->load(std::memory_order_relaxed).is_pinned()) [[unlikely]] {
        pinned_.push_here(held(t));
        return;
      }
      push_back(held(t));
      notify_peers();
      return;
  }
}

void Worker::run_task(TaskHeader* e) {
  if (searching_) end_search();
  TaskSnapshot prev;
  TaskHeader* t = begin_run(e, prev);
  bool counted = false;  // a handed-back task was counted when it was taken
  for (;;) {
    if (prev.is_cancelled()) {
      cancel_run(t);
    } else {
      if (!counted) count_run(t);
      run_as(t);
      RunResult r = run_in_loop(t);
      // A fiber may have handed this worker on to other fibers
      // (duet/detail/hand_off.hpp): the run that ended is the current task's.
      t = end_run_as();
      // Fast path: nothing else is runnable here and the tick has budget
      // left, so the back of the queue is its front: run it again without
      // a round trip through the ring or the state word. The injection
      // queue still gets its turn when the budget runs out.
      if (r == RunResult::yielded && handed_.task == nullptr && lifo_.peek() == nullptr &&
          queue.is_empty() && !pinned_.maybe_nonempty() && budget_ > 1) {
        stats_.yields.inc();
        --budget_;
        prev = t->load(std::memory_order_relaxed);
        counted = false;
        continue;
      }
      run_ended(t, r);
    }
    if (handed_.task == nullptr) return;
    const NextTask n = std::exchange(handed_, NextTask{});
    t = n.task;
    prev = n.state;
    counted = true;
  }
}

// Inline into run_child_inline: coroutines on both sides (the common case)
// decide in two loads, with no call on the spawn+join path
// (docs/performance-log.md, "A finishing fiber asks its worker once").
inline bool Worker::may_run_inline(const TaskHeader* joiner, const TaskHeader* child) noexcept {
  // A task with stackful operations (TaskVTable::stackful) runs on a stack
  // of its own; any other child runs on the joiner's stack: not a fiber's,
  // which may be small.
  if (child->vtable->stackful == nullptr) return joiner->vtable->stackful == nullptr;
  // A fiber child runs on its own stack, entered from the joiner's (only
  // the switch's frame lands there; fiber.cpp starts it only with a cached
  // stack, and it never hands off while it runs so). Not a copy fiber, on
  // either side (frames that move): its bytes live on the worker's shared stack.
  const auto frames_move = [](const TaskHeader* t) {
    const StackfulOps* ops = t->vtable->stackful;
    return ops != nullptr && ops->frames_move != nullptr && ops->frames_move(t);
  };
  return !frames_move(child) && !frames_move(joiner);
}

// Inline into run_child_if_next_here, its one caller: a join's poll on a
// worker makes one call to spare the child's queueing, as when the harness
// called this directly (docs/performance-log.md, "Hot-path trims of
// spawn+join").
inline void Worker::run_child_inline(TaskHeader* child) {
  // A few levels deep at most (a tree of spawn+joins nests its polls),
  // with budget left in the tick (the loop's maintenance comes first), and
  // only between tasks whose stacks allow it (may_run_inline).
  constexpr std::uint32_t max_depth = 4;
  TaskHeader* joiner = running_task();
  if (lifo_.peek() != child || joiner == nullptr || inline_depth_ >= max_depth || budget_ <= 1 ||
      handed_.task != nullptr || !may_run_inline(joiner, child)) {
    return;
  }
  // The loop's own choice: within lifo_cap (or with the ring empty), else
  // the slot's task goes to the back and is not run here.
  if (take_lifo_here() == nullptr) return;
  --budget_;
  ++inline_depth_;
  stats_.inline_joins.inc();
  // Its only handle is being polled here: the transitions may find that
  // nobody else can reach its word (state.hpp, to_running_joined).
  TaskHeader* const outer = std::exchange(joined_inline_, child);
  run_once(child, start_run<RunStart::joined>(child));
  joined_inline_ = outer;
  --inline_depth_;
  run_as(joiner);
}

// task/schedule.hpp: the join hand-off, when this thread is a worker of
// the child's runtime.
void run_child_if_next_here(TaskHeader* t) {
  if (Worker* w = tl_context.worker; w != nullptr && &w->scheduler() == t->sched) {
    w->run_child_inline(t);
  }
}

void Worker::run_once(TaskHeader* t, TaskSnapshot prev) {
  if (prev.is_cancelled()) {
    cancel_run(t);
    return;
  }
  count_run(t);
  run_as(t);
  const RunResult r = t->vtable->run(t);
  end_run_as();
  run_ended(t, r);
}

NextTask Worker::take_next_task() noexcept {
  // Budget spent: the loop's maintenance (I/O, timers, the injection
  // queue) comes first. A task already handed back: the loop runs it.
  // Inside a join hand-off: the fiber must come back to its joiner.
  if (budget_ <= 1 || handed_.task != nullptr || inline_depth_ > 0) return {};
  return take_next(lifo_.peek() != nullptr);
}

NextTask Worker::yield_turn(TaskHeader* self) noexcept {
  if (budget_ <= 1 || handed_.task != nullptr) return {};
  const bool lifo = lifo_.peek() != nullptr;
  if (!lifo && queue.is_empty() && !pinned_.maybe_nonempty()) {
    // Nothing else runnable here: the back of the ring is its front, so
    // the task goes on, as the loop's own yield fast path does.
    --budget_;
    count_run(self);
    stats_.yields.inc();
    return NextTask{self, {}};
  }
  if (inline_depth_ > 0) return {};
  return take_next(lifo);
}

inline NextTask Worker::take_next(bool lifo) noexcept {
  // The slot's own test was the caller's: an empty slot costs no call.
  TaskHeader* e = lifo ? take_lifo() : nullptr;
  if (e == nullptr) {
    lifo_runs_ = 0;
    e = queue.pop();
    if (e == nullptr) return {};
  }
  --budget_;
  NextTask n;
  n.task = begin_run(e, n.state);
  count_run(n.task);
  return n;
}

// ---- duet/detail/hand_off.hpp ---------------------------------------------

NextTask take_next_task(Worker& w) noexcept {
  return w.take_next_task();
}
NextTask take_next_task() noexcept {
  Worker* w = tl_context.worker;
  return w != nullptr ? w->take_next_task() : NextTask{};
}
void run_next_on_worker(Worker& w, NextTask n) noexcept {
  w.run_next(n);
}
void run_ended_by_hand_off(TaskHeader* t, RunResult r) noexcept {
  tl_context.worker->hand_off_ended(t, r);
}
NextTask take_yield_turn(TaskHeader* self) noexcept {
  Worker* w = tl_context.worker;
  return w != nullptr ? w->yield_turn(self) : NextTask{};
}
bool running_inline() noexcept {
  const Worker* w = tl_context.worker;
  return w != nullptr && w->running_inline();
}
void record_fiber_stack_mark(std::uint64_t bytes) noexcept {
  if (Worker* w = tl_context.worker) w->record_fiber_stack(bytes);
}
Worker* hand_off_worker() noexcept {
  Worker* w = tl_context.worker;
  return w != nullptr && !w->running_inline() ? w : nullptr;
}

void Worker::park() {
  bool last = sched_.idle.transition_worker_to_parked(index_, searching_);
  searching_ = false;
  // The last searcher to leave re-checks every queue a sleeper may take
  // from: work published after the others stopped looking would otherwise
  // wait for the next spawn. Another worker's pinned inbox is not among
  // them: its pusher unparked that worker, and a sleeper woken for it would
  // find nothing it may take, park, see it again, and spin.
  if (last && sched_.has_stealable_work()) sched_.notify_parked();
  stats_.parks.inc();
  // Ran tasks since it last slept: a fiber among them may have parked, so a
  // look at parked fibers is wanted a period from now (parked_stacks.cpp).
  // Relaxed: a statistic for the stall monitor (worker.hpp, runs_at_park),
  // written by this thread alone.
  const std::uint64_t polls = stats_.polls.get();
  if (polls != runs_at_park_.load(std::memory_order_relaxed)) {
    sched_.want_trim_by(coarse_tick() + sched_.trim_after_ticks);
  }
  runs_at_park_.store(polls, std::memory_order_relaxed);
  seen_at_ = {};  // a new watch starts with a fresh look
  while (!sched_.is_shutdown()) {
    // A paused test clock: the last worker to sleep jumps it to the next
    // timer instead (test_clock.hpp).
    const bool jumped = sched_.test_clock != nullptr && sched_.test_clock->jump_if_idle();
    if (!jumped) driver->park(park_timeout(), room());
    read_coarse_clock();
    // The look at parked fibers, when this sleep was cut short for it (it
    // may queue a fiber woken while it held it: the checks below see it).
    if (sched_.trim_after_ticks != 0) sched_.trim_if_due(coarse_tick());
    if (!sched_.idle.is_parked(index_)) {
      // A notifier unlisted us and counted us as searching.
      searching_ = true;
      return;
    }
    if (watching_) take_stuck_lifo_tasks();
    // Timers, I/O completions reaped inside driver->park, or the watch put
    // tasks into our own ring (a wake on this thread goes there; as we are
    // listed as parked, its notification may pick us): unlist ourselves and
    // run them. If a notifier unlisted us meanwhile, it counted us as
    // searching. If we were the watcher, another sleeper takes over.
    if (jumped || fire_due_while_parked() > 0 || lifo_.peek() != nullptr || !queue.is_empty() ||
        pinned_.maybe_nonempty()) {
      int next_watcher = -1;
      searching_ = !sched_.idle.unpark_worker_by_id(index_, next_watcher);
      if (next_watcher >= 0) sched_.workers[static_cast<unsigned>(next_watcher)]->driver->unpark();
      return;
    }
  }
}

std::size_t Worker::fire_due_while_parked() {
  // A test clock moves only in its steps, and a step fires every timer it
  // moves the clock past, on every wheel (test_clock.hpp): a parked worker
  // that fired its own would take from the step the timers it counts, and
  // the step would move on before their tasks ran.
  return sched_.test_clock != nullptr ? 0 : timers.fire_due();
}

std::optional<std::chrono::nanoseconds> Worker::park_timeout() {
  // Timers are only inserted by this worker's own thread, so none can
  // appear while we sleep.
  std::optional<std::chrono::nanoseconds> t = timers.park_timeout();
  // A test clock does not move while we sleep: a timer not yet due waits
  // for a step (test_clock.hpp), which wakes us.
  if (sched_.test_clock != nullptr && t && t->count() > 0) t.reset();
  // A look at parked fibers' stacks that is wanted wakes us for it (real
  // time only: a test clock's runtime looks from its busy workers' turns).
  if (sched_.trim_after_ticks != 0 && sched_.test_clock == nullptr) {
    // Relaxed: when to look (Scheduler::want_trim_by).
    const std::uint64_t due = sched_.trim_due.load(std::memory_order_relaxed);
    if (due != Scheduler::trim_none) {
      // The coarse clock, not a fresh read (a sleep pays no clock read for
      // this): the look comes at most as late as the clock is stale.
      const std::uint64_t now = coarse_tick();
      const std::chrono::nanoseconds wait{
          due > now ? static_cast<std::int64_t>((due - now) << tick_shift) : 0};
      if (!t || wait < *t) t = wait;
    }
  }
  watching_ = sched_.idle.watch_mode(index_) == Idle::Watch::timed;
  if (!watching_) return t;
  // A watch starts with a look, so that the next one, a period later, can
  // tell who stayed inside one poll all along.
  if (seen_at_ == std::chrono::steady_clock::time_point{}) take_stuck_lifo_tasks();
  const std::chrono::nanoseconds period = sched_.cfg.lifo_steal_after;
  return t && *t < period ? *t : period;
}

unsigned Worker::take_stuck_lifo_tasks() {
  const auto now = std::chrono::steady_clock::now();
  const std::size_t n = sched_.workers.size();
  const bool first_look =
      seen_at_ == std::chrono::steady_clock::time_point{} || seen_polls_.size() != n;
  // Woken before a period passed (a spurious or a hand-off wake-up): keep
  // the old look, and look again later.
  if (!first_look && now - seen_at_ < sched_.cfg.lifo_steal_after) return 0;
  seen_polls_.resize(n);
  unsigned taken = 0;
  for (unsigned v = 0; v < n; ++v) {
    if (v == index_) continue;
    TaskHeader* t = take_if_stuck(*sched_.workers[v], seen_polls_[v], !first_look);
    if (t == nullptr) continue;
    if (queue.push_back_or_overflow(t, sched_.injector)) stats_.overflows.inc();
    stats_.lifo_steals.inc();
    stats_.steals.inc();
    ++taken;
  }
  seen_at_ = now;
  // Several stuck workers: let another sleeper share what we took.
  if (taken > 1) sched_.notify_parked();
  return taken;
}

TaskHeader* Worker::take_if_stuck(Worker& w, std::uint64_t& seen_polls, bool may_take) {
  // The same poll count as at our last look (a period ago), and a task in
  // the slot: that worker has been inside one poll all along, and the task
  // waited behind it.
  const std::uint64_t polls = w.stats_.polls.get();
  const bool stuck = may_take && polls == std::exchange(seen_polls, polls);
  TaskHeader* t = stuck ? w.lifo_.peek() : nullptr;
  return t != nullptr ? w.lifo_.steal(t) : nullptr;
}

}  // namespace duet::detail

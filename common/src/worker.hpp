// worker.hpp: one worker thread and its run loop.
//
// Where a worker looks for its next task, in order:
//   1. every `tick_budget` runs: the injection queue first (fairness for
//      spawns from outside), then the rest of the tick's maintenance;
//   2. the LIFO slot, unless it already ran `lifo_cap` times in a row;
//   3. its own ring (FIFO);
//   4. the injection queue (a batch moves into the ring);
//   5. steal half of a random victim's ring (at most half the workers
//      search at a time);
//   6. park (see Scheduler for the no-lost-wake-up rule).
#pragma once

#include <cstdint>
#include <thread>

#include <memory>
#include "duet/config.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/drivers/driver.hpp"
#include "local_queue.hpp"
#include "time/wheel.hpp"

namespace duet::detail {

class Scheduler;

/// A counter written by one thread and read by others: a relaxed load and
/// store (a plain `inc` on x86), no locked instruction.
struct Counter {
  std::atomic<std::uint64_t> v{0};
  void inc(std::uint64_t n = 1) noexcept {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

class Worker {
 public:
  Worker(Scheduler& s, unsigned index, int cpu);
  void start();
  void join();

  /// Queues a task from this worker's own thread. A wake or spawn goes to
  /// the LIFO slot (hot in cache); a yield or requeue goes to the back.
  void schedule_local(TaskHeader* t, bool to_back);

  [[nodiscard]] WorkerStats stats() const noexcept;
  [[nodiscard]] unsigned index() const noexcept { return index_; }
  [[nodiscard]] int cpu() const noexcept { return cpu_; }
  [[nodiscard]] Scheduler& scheduler() noexcept { return sched_; }

  LocalQueue queue;
  /// What this worker sleeps in and reaps I/O from (duet/drivers/driver.hpp).
  std::unique_ptr<Driver> driver;
  /// Timers registered by tasks this worker polled (common/src/time/):
  /// fired in maintenance() and when a park times out.
  time_detail::TimerWheel timers{time_detail::now_tick()};

 private:
  friend class Scheduler;
  void run();
  TaskHeader* next_task();
  /// End-of-tick work besides the injection queue: reap the driver.
  void maintenance();
  /// RuntimeConfig::idle_poll: polls the driver until an event or work
  /// arrives (true) or the window ends (false).
  bool poll_while_idle();
  /// Free slots in the run queue: how many events the driver may reap now.
  [[nodiscard]] std::size_t room() const noexcept { return queue.capacity() - queue.len(); }
  TaskHeader* next_from_injector();
  TaskHeader* steal_work();
  void run_task(TaskHeader* t);
  void park();
  void end_search();
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
  TaskHeader* lifo_ = nullptr;
  std::uint32_t lifo_runs_ = 0;
  std::uint32_t budget_;
  std::uint32_t rng_;
  bool searching_ = false;
  std::thread thread_;

  struct {
    Counter polls, lifo_hits, steals, steal_attempts, injector_pops, overflows, parks, yields;
  } stats_;
};

}  // namespace duet::detail

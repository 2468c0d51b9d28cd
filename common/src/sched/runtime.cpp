// runtime.cpp: duet::Runtime's out-of-line members, each a call into its
// scheduler (scheduler.hpp): construction, shutdown, drain, statistics,
// memory, and the runtime of the calling worker.
#include "duet/runtime.hpp"

#include <stdexcept>
#include <string>
#include <thread>

#include "duet/blocking.hpp"
#include "duet/detail/block_cache.hpp"
#include "duet/detail/driven_clock.hpp"
#include "duet/detail/fork.hpp"
#include "duet/detail/stackful_ops.hpp"
#include "duet/memory.hpp"
#include "histogram/cycle_clock.hpp"
#include "scheduler.hpp"
#include "thread_context.hpp"

// Weak and undefined here: null unless duet::stackful is linked
// (duet/detail/stackful_ops.hpp, StackMemorySource).
extern "C" {
[[gnu::weak]] DUET_API extern const duet::detail::StackMemorySource duet_stack_memory_source;
}

namespace duet {

Runtime::Runtime(RuntimeConfig cfg)
    : sched_(std::make_unique<detail::Scheduler>(*this, std::move(cfg))), cfg_(&sched_->cfg) {}

Runtime::~Runtime() {
  // In a forked child the workers are not there to stop, and their locks
  // may be held: the scheduler is left as it is (duet/detail/fork.hpp).
  if (detail::in_forked_child()) {
    (void)sched_.release();
    return;
  }
  shutdown();
}

void Runtime::shutdown() {
  if (detail::in_forked_child()) return;  // nothing runs to be stopped
  sched_->shutdown();
}

CancellationToken Runtime::shutdown_token() const {
  return sched_->shutdown_token;
}

DrainReport Runtime::drain(std::chrono::nanoseconds deadline) {
  detail::check_not_forked("Runtime::drain");
  return sched_->drain(deadline);
}

unsigned Runtime::workers() const noexcept {
  return static_cast<unsigned>(sched_->workers.size());
}

std::vector<WorkerStats> Runtime::stats() const {
  std::vector<WorkerStats> v;
  v.reserve(sched_->workers.size());
  // Calibrated once for every worker's snapshot, and only with histograms
  // on (the first calibration may wait a few milliseconds).
  const bool on = !sched_->workers.empty() && sched_->workers.front()->histograms_on();
  const double spc = on ? detail::seconds_per_cycle() : 1e-9;
  for (const auto& w : sched_->workers) v.push_back(w->stats(spc));
  return v;
}

BlockingPoolStats Runtime::blocking_stats() const {
  return sched_->blocking_quota.stats();
}

MemoryStats Runtime::memory_stats() const {
  MemoryStats m;
  m.blocks = detail::block_memory();
  if (&duet_stack_memory_source != nullptr) duet_stack_memory_source(m.stacks);
  m.drivers.reserve(sched_->workers.size());
  for (const auto& w : sched_->workers) m.drivers.push_back(w->driver->memory());
  return m;
}

std::vector<int> Runtime::worker_cpus() const {
  std::vector<int> v;
  for (const auto& w : sched_->workers) v.push_back(w->cpu());
  return v;
}

void Runtime::advance(std::chrono::nanoseconds d) {
  if (!sched_->test_clock) {
    throw std::logic_error(
        "duet::Runtime::advance: the runtime has a real clock (RuntimeConfig::clock)");
  }
  sched_->test_clock->advance(d);
}

namespace detail {

void hold_clock(Runtime& rt, bool held) {
  TestClock* c = scheduler_of(rt)->test_clock.get();
  if (c == nullptr || !c->auto_advances()) {
    throw std::logic_error("duet::detail::hold_clock: the runtime has no paused clock");
  }
  c->hold(held);
}

void wait_idle(Runtime& rt) {
  Scheduler* s = scheduler_of(rt);
  if (current_scheduler() == s) {
    throw std::logic_error("duet::detail::wait_idle: called on one of the runtime's own workers");
  }
  while (!runtime_quiescent(*s) && !s->is_shutdown()) std::this_thread::yield();
}

}  // namespace detail

Instant Runtime::now() const noexcept {
  if (const detail::TestClock* c = sched_->test_clock.get()) {
    return Instant(Instant::duration(c->now_ns()));
  }
  return std::chrono::steady_clock::now();
}

Runtime* Runtime::current() noexcept {
  detail::Worker* w = detail::tl_context.worker;
  return w != nullptr ? &w->scheduler().runtime : nullptr;
}

int Runtime::current_worker() noexcept {
  detail::Worker* w = detail::tl_context.worker;
  return w != nullptr ? static_cast<int>(w->index()) : -1;
}

namespace detail {
unsigned pin_home(Runtime& rt, Pin p) {
  if (p.worker == Pin::here) {
    Worker* w = tl_context.worker;
    if (w == nullptr || &w->scheduler().runtime != &rt) {
      throw std::logic_error(
          "duet::pinned: the spawn is not on one of this runtime's workers (pin to a worker "
          "from outside with duet::pin_to(index))");
    }
    return w->index();
  }
  if (p.worker >= rt.workers() || p.worker > TaskSnapshot::max_home) {
    throw std::out_of_range("duet::pin_to(" + std::to_string(p.worker) + "): the runtime has " +
                            std::to_string(rt.workers()) + " worker(s)");
  }
  return p.worker;
}
}  // namespace detail

}  // namespace duet

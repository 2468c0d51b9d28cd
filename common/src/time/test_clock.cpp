// test_clock.cpp: the paused and manual clocks (test_clock.hpp).
#include "test_clock.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <thread>

#include "sched/scheduler.hpp"
#include "sched/thread_context.hpp"

namespace duet::detail {

std::atomic<std::int64_t> test_clock_ns{0};

namespace {
// The installed clock. Acquire/release: a thread that finds it reads its
// constructed wheel.
std::atomic<TestClock*> g_installed{nullptr};

std::uint64_t test_tick() noexcept {
  // Relaxed: written only under a TestClock's mutex or at install; readers
  // of a step's result are ordered by the wakes it makes.
  return static_cast<std::uint64_t>(test_clock_ns.load(std::memory_order_relaxed)) >> tick_shift;
}

std::uint64_t real_tick_ceil() noexcept {
  return tick_ceil(std::chrono::steady_clock::now());
}
}  // namespace

TestClock::TestClock(Scheduler& s, bool auto_advance)
    : sched_(s), auto_advance_(auto_advance), wheel_(real_tick_ceil()) {
  TestClock* none = nullptr;
  if (!g_installed.compare_exchange_strong(none, this, std::memory_order_acq_rel)) {
    throw std::logic_error(
        "duet: a runtime with a test clock (RuntimeConfig::clock) already lives in this process");
  }
  // Relaxed: published to other threads by their start (the workers are
  // created after this) or by the install above.
  test_clock_ns.store(static_cast<std::int64_t>(wheel_.elapsed() << tick_shift),
                      std::memory_order_relaxed);
}

TestClock::~TestClock() {
  // Whoever still sleeps off the runtime is let go: the wheel dies here.
  wheel_.advance(std::numeric_limits<std::uint64_t>::max());
  test_clock_ns.store(0, std::memory_order_relaxed);  // Relaxed: as in the constructor
  g_installed.store(nullptr, std::memory_order_release);
}

TestClock* TestClock::installed() noexcept {
  return g_installed.load(std::memory_order_acquire);
}

bool TestClock::insert_off_runtime(TimerEntry& e, const Waker& w) {
  if (!wheel_.insert(e, w)) return false;
  // A spurious wake-up: the worker, still listed as parked, tries a step
  // before sleeping again (Worker::park).
  if (auto_advance_) sched_.workers.front()->driver->unpark();
  return true;
}

std::size_t TestClock::step(std::uint64_t limit) {
  for (;;) {
    std::optional<std::uint64_t> next = wheel_.next_deadline();
    for (const auto& w : sched_.workers) {
      std::optional<std::uint64_t> d = w->timers.next_deadline();
      if (d && (!next || *d < *next)) next = d;
    }
    if (!next || *next > limit) return 0;
    const std::uint64_t at = std::max(*next, test_tick());
    // Relaxed: see test_tick(); only forward, under mu_.
    test_clock_ns.store(static_cast<std::int64_t>(at << tick_shift), std::memory_order_relaxed);
    std::size_t fired = wheel_.advance(at);
    for (const auto& w : sched_.workers) fired += w->timers.advance(at);
    if (fired > 0) return fired;
    // Only cascades (entries moved to a lower level): look again.
  }
}

bool TestClock::quiescent() const noexcept {
  return sched_.idle.num_unparked() == 0 && !sched_.has_pending_work();
}

void TestClock::wait_quiescent() const {
  while (!quiescent() && !sched_.is_shutdown()) std::this_thread::yield();
}

bool TestClock::jump_if_idle() {
  if (!auto_advance_ || !quiescent()) return false;
  // A manual advance under way moves the clock itself.
  std::unique_lock lk(mu_, std::try_to_lock);
  if (!lk.owns_lock() || !quiescent()) return false;
  return step(std::numeric_limits<std::uint64_t>::max()) > 0;
}

void TestClock::advance(std::chrono::nanoseconds d) {
  if (d.count() < 0) throw std::invalid_argument("duet::Runtime::advance: negative duration");
  if (tl_context.worker != nullptr && &tl_context.worker->scheduler() == &sched_) {
    throw std::logic_error(
        "duet::Runtime::advance: called on one of the runtime's own workers (it waits for them)");
  }
  std::lock_guard g(mu_);
  // Relaxed: see test_tick().
  const auto target = static_cast<std::uint64_t>(test_clock_ns.load(std::memory_order_relaxed)) +
                      static_cast<std::uint64_t>(d.count());
  const std::uint64_t limit = (target + ((1u << tick_shift) - 1)) >> tick_shift;
  do {
    wait_quiescent();
  } while (step(limit) > 0);
  const auto now = static_cast<std::uint64_t>(test_clock_ns.load(std::memory_order_relaxed));
  test_clock_ns.store(static_cast<std::int64_t>(std::max(now, target)), std::memory_order_relaxed);
}

}  // namespace duet::detail

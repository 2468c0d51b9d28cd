// test_clock.cpp: the paused and manual clocks (test_clock.hpp).
#include "test_clock.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "duet/detail/current.hpp"

namespace duet::detail {

std::atomic<int> test_clocks_live{0};

namespace {

// The live clocks' times, one slot each, never freed: a thread
// that reads a slot while its clock is destroyed reads valid memory (the
// time of that clock, or of a later one that took the slot).
std::array<std::atomic<std::int64_t>, TestClock::kMaxLive> g_slots{};

// The live clocks (slot by slot) and which one a thread off every worker
// reads. Installs and removals take the mutex (cold: test runtimes only).
std::mutex g_registry_mu;
std::array<bool, TestClock::kMaxLive> g_taken{};       // guarded by g_registry_mu
std::array<TestClock*, TestClock::kMaxLive> g_live{};  // guarded: constructed ones
// The only live clock, or null. Acquire/release: a thread that finds it
// reads its constructed wheel and slot.
std::atomic<TestClock*> g_sole{nullptr};

/// Under g_registry_mu: the only live clock, or null.
TestClock* sole_locked() noexcept {
  TestClock* one = nullptr;
  for (TestClock* c : g_live) {
    if (c == nullptr) continue;
    if (one != nullptr) return nullptr;
    one = c;
  }
  return one;
}

std::uint64_t real_tick_ceil() noexcept {
  return tick_ceil(std::chrono::steady_clock::now());
}

std::atomic<std::int64_t>* take_slot() {
  std::lock_guard g(g_registry_mu);
  for (std::size_t i = 0; i < g_taken.size(); ++i) {
    if (g_taken[i]) continue;
    g_taken[i] = true;
    return &g_slots[i];
  }
  throw std::logic_error("duet: more runtimes with a test clock (RuntimeConfig::clock) than " +
                         std::to_string(TestClock::kMaxLive) + " live at once");
}

}  // namespace

std::int64_t test_clock_now_ns() noexcept {
  if (const Scheduler* s = current_scheduler()) {
    const TestClock* c = test_clock_of(*s);
    return c != nullptr ? c->now_ns() : 0;
  }
  const TestClock* c = TestClock::sole();
  return c != nullptr ? c->now_ns() : 0;
}

TestClock::TestClock(Scheduler& s, bool auto_advance)
    : sched_(s), auto_advance_(auto_advance), ns_(take_slot()), wheel_(real_tick_ceil()) {
  set_ns(wheel_.elapsed() << tick_shift);
  // Listed once whole: a thread off every worker may use it from here on.
  std::lock_guard g(g_registry_mu);
  g_live[static_cast<std::size_t>(ns_ - g_slots.data())] = this;
  g_sole.store(sole_locked(), std::memory_order_release);
  // Relaxed: see Clock::now(); the workers start after this.
  test_clocks_live.fetch_add(1, std::memory_order_relaxed);
}

TestClock::~TestClock() {
  {
    std::lock_guard g(g_registry_mu);
    const auto i = static_cast<std::size_t>(ns_ - g_slots.data());
    g_live[i] = nullptr;
    g_taken[i] = false;
    g_sole.store(sole_locked(), std::memory_order_release);
    test_clocks_live.fetch_sub(1, std::memory_order_relaxed);  // Relaxed: as in the constructor
  }
  // Whoever still sleeps off the runtime is let go: the wheel dies here.
  wheel_.advance(std::numeric_limits<std::uint64_t>::max());
}

TestClock* TestClock::sole() noexcept {
  return g_sole.load(std::memory_order_acquire);
}

std::int64_t TestClock::now_ns() const noexcept {
  // Relaxed: written only under mu_ or before the workers start; readers of
  // a step's result are ordered by the wakes it makes.
  return ns_->load(std::memory_order_relaxed);
}

std::uint64_t TestClock::tick() const noexcept {
  return static_cast<std::uint64_t>(now_ns()) >> tick_shift;
}

void TestClock::set_ns(std::uint64_t ns) noexcept {
  // Saturated: the last tick, of a deadline near Instant::max(), starts
  // past the clock's range.
  constexpr auto top = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  ns_->store(static_cast<std::int64_t>(std::min(ns, top)),
             std::memory_order_relaxed);  // Relaxed: see now_ns()
}

bool TestClock::insert_off_runtime(TimerEntry& e, const Waker& w) {
  if (!wheel_.insert(e, w)) return false;
  // A spurious wake-up: the worker, still listed as parked, tries a step
  // before sleeping again (Worker::park).
  if (auto_advance_) wake_first_worker(sched_);
  return true;
}

std::size_t TestClock::step(std::uint64_t limit) {
  for (;;) {
    std::optional<std::uint64_t> next = wheel_.next_deadline();
    const std::size_t workers = worker_count(sched_);
    for (std::size_t i = 0; i < workers; ++i) {
      std::optional<std::uint64_t> d = worker_timers(sched_, i).next_deadline();
      if (d && (!next || *d < *next)) next = d;
    }
    if (!next || *next > limit) return 0;
    const std::uint64_t at = std::max(*next, tick());
    set_ns(at << tick_shift);  // only forward, under mu_
    std::size_t fired = wheel_.advance(at);
    for (std::size_t i = 0; i < workers; ++i) fired += worker_timers(sched_, i).advance(at);
    if (fired > 0) return fired;
    // Only cascades (entries moved to a lower level): look again.
  }
}

bool TestClock::quiescent() const noexcept {
  return runtime_quiescent(sched_);
}

void TestClock::wait_quiescent() const {
  while (!quiescent() && !runtime_shut_down(sched_)) std::this_thread::yield();
}

void TestClock::hold(bool held) noexcept {
  held_.store(held);
  // Let go: the workers may all be asleep already; one considers a step.
  if (!held) wake_first_worker(sched_);
}

bool TestClock::jump_if_idle() {
  if (!auto_advance_ || held_.load() || !quiescent()) return false;
  // A manual advance under way moves the clock itself.
  std::unique_lock lk(mu_, std::try_to_lock);
  if (!lk.owns_lock() || !quiescent()) return false;
  return step(std::numeric_limits<std::uint64_t>::max()) > 0;
}

void TestClock::advance(std::chrono::nanoseconds d) {
  if (d.count() < 0) throw std::invalid_argument("duet::Runtime::advance: negative duration");
  if (current_scheduler() == &sched_) {
    throw std::logic_error(
        "duet::Runtime::advance: called on one of the runtime's own workers (it waits for them)");
  }
  std::lock_guard g(mu_);
  const Instant to = saturating_add(Instant(Clock::duration(now_ns())), d);
  const auto target = static_cast<std::uint64_t>(to.time_since_epoch().count());
  const std::uint64_t limit = (target + ((1u << tick_shift) - 1)) >> tick_shift;
  do {
    wait_quiescent();
  } while (step(limit) > 0);
  set_ns(std::max(static_cast<std::uint64_t>(now_ns()), target));
}

}  // namespace duet::detail

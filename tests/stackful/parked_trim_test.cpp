// Parked fibers give back their deep stack pages
// (RuntimeConfig::fiber_stack_trim_after, common/src/sched/parked_stacks.cpp):
// a fiber that went 200 KiB deep and parked shallow keeps about the pages
// it is parked on once it has stayed parked past the threshold, and its next
// deep call finds zeroed pages that work as any; a fiber that parks and is
// woken again and again, each time briefly, keeps its pages.
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "duet/duet.hpp"
#include "duet/stackful/introspect.hpp"
#include "duet/stackful/stack.hpp"
#include "fiber_test_util.hpp"
#include "test_util.hpp"

namespace {

constexpr int kDepth = 200;  // frames of 1 KiB and more: 200 KiB and more

/// Recursion `depth` frames deep, each with a KiB of its own written on the
/// way down and read back on the way up: false when any byte changed.
[[gnu::noinline]] bool dive(int depth, unsigned salt) {
  volatile unsigned char buf[1024];
  for (unsigned i = 0; i < sizeof buf; ++i) {
    buf[i] = static_cast<unsigned char>(static_cast<unsigned>(depth) * 31U + i + salt);
  }
  bool ok = depth == 0 || dive(depth - 1, salt);
  for (unsigned i = 0; i < sizeof buf; ++i) {
    ok = ok && buf[i] == static_cast<unsigned char>(static_cast<unsigned>(depth) * 31U + i + salt);
  }
  return ok;
}

/// The calling fiber's stack: [bottom, top).
struct Range {
  std::uintptr_t bottom = 0, top = 0;
};
Range this_stack() {
  char here = 0;
  char* top = &here + duet::this_fiber::stack_in_use();
  return Range{reinterpret_cast<std::uintptr_t>(top - duet::this_fiber::stack_size()),
               reinterpret_cast<std::uintptr_t>(top)};
}

/// Resident pages of [r.bottom, r.top), by mincore.
std::size_t resident_pages(Range r) {
  const auto pg = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const std::uintptr_t lo = r.bottom & ~(pg - 1);
  const std::uintptr_t hi = (r.top + pg - 1) & ~(pg - 1);
  std::vector<unsigned char> vec((hi - lo) / pg);
  REQUIRE(mincore(reinterpret_cast<void*>(lo), hi - lo, vec.data()) == 0);
  std::size_t n = 0;
  for (unsigned char c : vec) n += c & 1U;
  return n;
}

/// A future that is ready once fire() has been called more often than the
/// count it was made with: wakes a fiber again and again.
class Pulse {
 public:
  struct Wait {
    Pulse* p;
    std::uint64_t seen;
    duet::Poll<void> poll(duet::Context& cx) {
      std::lock_guard lk(p->mu_);
      if (p->fired_ > seen) return duet::ready();
      p->waker_ = cx.waker();
      return duet::pending;
    }
  };
  Wait next(std::uint64_t seen) { return Wait{this, seen}; }
  void fire() {
    std::optional<duet::Waker> w;
    {
      std::lock_guard lk(mu_);
      ++fired_;
      w = std::move(waker_);
      waker_.reset();
    }
    if (w) w->wake_by_ref();
  }

 private:
  std::mutex mu_;
  std::uint64_t fired_ = 0;
  std::optional<duet::Waker> waker_;
};

duet::RuntimeConfig trim_config(std::chrono::nanoseconds after) {
  duet::RuntimeConfig c = duet::test::cpu_only_config(1);
  c.fiber_stack_trim_after = after;
  c.fiber_stack_size = std::size_t{1} << 20;  // room for the dive in sanitizer builds too
  return c;
}

}  // namespace

TEST_CASE("parked trim: a fiber parked past the threshold gives back its deep pages") {
  duet::test::Watchdog wd("parked trim");
  duet::Runtime rt(trim_config(std::chrono::milliseconds(1)));
  const duet::detail::StackPoolStats before = duet::detail::stack_pool_stats();
  duet::test::Gate gate;
  std::atomic<std::uintptr_t> bottom{0}, top{0};
  std::atomic<std::size_t> deep_pages{0};
  auto h = rt.spawn(duet::stackful, [&] {
    bool ok = dive(kDepth, 1);
    const Range r = this_stack();
    deep_pages.store(resident_pages(r));
    bottom.store(r.bottom);
    top.store(r.top, std::memory_order_release);
    duet::wait(gate.wait());
    // The pages under the frames it parked on were given back: they are
    // zero pages now, and a dive writes and reads them as any.
    ok = dive(kDepth, 7) && ok;
    return ok && dive(kDepth, 11);
  });
  while (top.load(std::memory_order_acquire) == 0 || gate.waiters() == 0) {
    std::this_thread::yield();
  }
  const Range r{bottom.load(), top.load()};
  CHECK(deep_pages.load() >= 45);  // the dive's 200 KiB were resident
  // Parked: within a few housekeeping turns of 1 ms, the pages below its
  // stack pointer go back.
  while (duet::detail::stack_pool_stats().parked_pages - before.parked_pages < 40) {
    std::this_thread::yield();
  }
  const duet::detail::StackPoolStats after = duet::detail::stack_pool_stats();
  CHECK(after.parked_trims == before.parked_trims + 1);
  // What stays: the pages its parked frames span, the one under its stack
  // pointer among them.
  const std::size_t kept = resident_pages(r);
  INFO("resident pages while parked: " << kept);
  CHECK(kept <= 2);
  gate.open();
  CHECK(h.join());
}

TEST_CASE("parked trim: a fiber parked briefly, again and again, keeps its pages") {
  duet::test::Watchdog wd("parked briefly");
  duet::Runtime rt(trim_config(std::chrono::milliseconds(500)));
  // `idle` parks once, long; `busy` parks as often, each time until the
  // test thread wakes it right after it parked.
  duet::test::Gate gate;
  std::atomic<std::uintptr_t> idle_bottom{0}, idle_top{0}, busy_bottom{0}, busy_top{0};
  auto idle = rt.spawn(duet::stackful, [&] {
    const bool ok = dive(kDepth, 3);
    const Range r = this_stack();
    idle_bottom.store(r.bottom);
    idle_top.store(r.top, std::memory_order_release);
    duet::wait(gate.wait());
    return ok;
  });
  Pulse pulse;
  std::atomic<std::uint64_t> woken{0};
  std::atomic<bool> stop{false};
  auto busy = rt.spawn(duet::stackful, [&] {
    bool ok = dive(kDepth, 5);
    const Range r = this_stack();
    busy_bottom.store(r.bottom);
    busy_top.store(r.top, std::memory_order_release);
    for (std::uint64_t seen = 0; !stop.load(std::memory_order_acquire); ++seen) {
      duet::wait(pulse.next(seen));
      woken.store(seen + 1, std::memory_order_release);
    }
    return ok && dive(kDepth, 9);
  });
  while (idle_top.load(std::memory_order_acquire) == 0 ||
         busy_top.load(std::memory_order_acquire) == 0) {
    std::this_thread::yield();
  }
  const Range idle_r{idle_bottom.load(), idle_top.load()};
  const Range busy_r{busy_bottom.load(), busy_top.load()};
  const std::size_t busy_deep = resident_pages(busy_r);
  CHECK(busy_deep >= 45);
  // Wake `busy` each time it parks, until `idle` has been trimmed: the
  // looks that trimmed `idle` found `busy` parked (if at all) too briefly.
  const std::size_t trims = duet::detail::stack_pool_stats().parked_trims;
  std::uint64_t fired = 0;
  while (duet::detail::stack_pool_stats().parked_trims == trims) {
    pulse.fire();
    ++fired;
    while (woken.load(std::memory_order_acquire) < fired) std::this_thread::yield();
  }
  CHECK(resident_pages(idle_r) <= 2);
  CHECK(resident_pages(busy_r) >= busy_deep - 2);
  CHECK(duet::detail::stack_pool_stats().parked_trims == trims + 1);
  stop.store(true, std::memory_order_release);
  pulse.fire();
  gate.open();
  CHECK(idle.join());
  CHECK(busy.join());
}

TEST_CASE("parked trim: 0 turns it off, and a negative threshold is refused") {
  duet::RuntimeConfig c = trim_config(std::chrono::nanoseconds(-1));
  CHECK_THROWS_AS(duet::Runtime(c), std::invalid_argument);
  CHECK(duet::RuntimeConfig{}.fiber_stack_trim_after > std::chrono::nanoseconds(0));
}

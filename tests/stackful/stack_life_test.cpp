// A fiber holds its own stack only while it can run: from its first run to
// its finish, not from spawn to join (fiber.hpp). The pool's counters
// (stack_pool_stats: in_use, mapped) prove it: finished fibers that nobody
// has joined hold no stack, and their values, exceptions and cancellations
// still reach a later join; waves of short fibers reuse a few stacks
// instead of mapping one each; a fiber that cannot get a stack ends with a
// StackError and runs nothing.
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "duet/duet.hpp"
#include "fiber_test_util.hpp"
#include "test_util.hpp"

using duet::StackStrategy;
using duet::detail::stack_pool_stats;
using duet::test::Gate;

namespace {

duet::RuntimeConfig two_workers() {
  duet::RuntimeConfig c;
  c.workers = 2;
  c.placement = duet::Placement::none;
  return c;
}

constexpr StackStrategy own_stack_strategies[] = {StackStrategy::pooled, StackStrategy::lazy,
                                                  StackStrategy::unguarded_unsafe};

template <class T>
void wait_all_finished(const std::vector<duet::JoinHandle<T>>& hs) {
  for (const auto& h : hs) {
    while (!h.is_finished()) std::this_thread::yield();
  }
}

}  // namespace

TEST_CASE(
    "a finished fiber gives its stack back before it is joined, and its value still "
    "reaches the join",
    "[stackful][stack_life]") {
  duet::test::Watchdog wd("stack given back at finish");
  for (StackStrategy s : own_stack_strategies) {
    INFO(duet::test::strategy_name(s));
    duet::Runtime rt(two_workers());
    const std::size_t base = stack_pool_stats().in_use;
    Gate gate;
    std::vector<duet::JoinHandle<int>> hs;
    constexpr int n = 200;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn(duet::stackful({.strategy = s}), [&gate, i] {
        duet::wait(gate.wait());
        return i * 3;
      }));
    }
    // Parked fibers hold their stacks.
    while (gate.waiters() < n) std::this_thread::yield();
    CHECK(stack_pool_stats().in_use == base + n);
    gate.open();
    wait_all_finished(hs);
    // Finished, not joined: no stack is held any more.
    CHECK(stack_pool_stats().in_use == base);
    for (int i = 0; i < n; ++i) REQUIRE(hs[static_cast<std::size_t>(i)].join() == i * 3);
  }
}

TEST_CASE(
    "a fiber that starts after another finished on its worker runs on the stack that one gave "
    "back, at any thread cache size",
    "[stackful][stack_life]") {
  duet::test::Watchdog wd("the stack given back last is the next one taken");
  const duet::test::StackTuningRestore restore;
  for (std::size_t cache : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{64}}) {
    duet::StackTuning t = restore.saved;
    t.thread_cache_stacks = cache;
    duet::set_stack_tuning(t);
    for (StackStrategy s : own_stack_strategies) {
      INFO(duet::test::strategy_name(s) << ", a thread cache of " << cache << " stacks");
      duet::RuntimeConfig c;
      c.workers = 1;
      duet::Runtime rt(c);
      auto frame = [] { return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)); };
      const std::size_t base = stack_pool_stats().in_use;
      const std::uintptr_t first = rt.spawn(duet::stackful({.strategy = s}), frame).join();
      for (int i = 0; i < 3; ++i) {
        // Hot reuse: the same stack, so the same frame address.
        CHECK(rt.spawn(duet::stackful({.strategy = s}), frame).join() == first);
      }
      CHECK(stack_pool_stats().in_use == base);
    }
  }
}

TEST_CASE("lazy stacks charged nothing (lazy_keep_bytes 0) go back to the global pool",
          "[stackful][stack_life]") {
  // A lazy stack is charged lazy_keep_bytes in the global pool; at 0 every
  // one fits, and none may divide the pool's room by its charge.
  duet::test::Watchdog wd("lazy stacks charged nothing");
  const duet::test::StackTuningRestore restore;
  duet::StackTuning t = restore.saved;
  t.thread_cache_stacks = 0;  // every finished fiber's stack to the global pool
  t.lazy_keep_bytes = 0;
  duet::set_stack_tuning(t);
  {
    duet::RuntimeConfig c;
    c.workers = 2;
    duet::Runtime rt(c);
    const std::size_t base = stack_pool_stats().in_use;
    std::vector<duet::JoinHandle<int>> fibers;
    for (int i = 0; i < 64; ++i) {
      fibers.push_back(
          rt.spawn(duet::stackful({.strategy = StackStrategy::lazy}), [i] { return i; }));
    }
    int sum = 0;
    for (auto& f : fibers) sum += f.join();
    CHECK(sum == 64 * 63 / 2);
    CHECK(stack_pool_stats().in_use == base);
    // Taken again from the pool: they still run.
    CHECK(rt.spawn(duet::stackful({.strategy = StackStrategy::lazy}), [] { return 7; }).join() ==
          7);
  }
}

TEST_CASE("a fiber that asked for release_stack_cold gives its stack back with its pages",
          "[stackful][stack_life]") {
  // Cold stacks skip the thread's cache and the pool's hot stacks: they
  // wait in the pool's batch, whose pages go back to the kernel once it
  // holds 256 (one madvise per run of adjacent stacks); taken again, they
  // still run.
  duet::test::Watchdog wd("cold stacks");
  for (StackStrategy s : {StackStrategy::pooled, StackStrategy::lazy}) {
    INFO(duet::test::strategy_name(s));
    duet::Runtime rt(two_workers());
    const duet::detail::StackPoolStats before = stack_pool_stats();
    constexpr int n = 300;  // past one batch of 256
    Gate gate;
    std::vector<duet::JoinHandle<int>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn(duet::stackful({.strategy = s}), [&gate, i] {
        duet::wait(gate.wait());   // all at once: each holds a stack of its own
        volatile char deep[8192];  // touch a few pages
        deep[0] = static_cast<char>(i);
        deep[sizeof deep - 1] = deep[0];
        duet::detail::release_stack_cold();
        return i;
      }));
    }
    while (gate.waiters() < n) std::this_thread::yield();
    gate.open();
    for (int i = 0; i < n; ++i) REQUIRE(hs[static_cast<std::size_t>(i)].join() == i);
    const duet::detail::StackPoolStats after = stack_pool_stats();
    CHECK(after.in_use == before.in_use);
    CHECK(after.advised - before.advised >= 256);          // a batch's pages went back
    CHECK(after.resident_bytes <= before.resident_bytes);  // none joined the hot stacks
    // Off a fiber it does nothing; a fiber that did not ask stays hot.
    duet::detail::release_stack_cold();
    CHECK(rt.spawn(duet::stackful({.strategy = s}), [] { return 7; }).join() == 7);
  }
}

TEST_CASE("a fiber that threw or was cancelled holds no stack, and the join still reports it",
          "[stackful][stack_life]") {
  duet::test::Watchdog wd("stack given back after an exception or a cancel");
  duet::Runtime rt(two_workers());
  const std::size_t base = stack_pool_stats().in_use;
  Gate gate, never;
  std::vector<duet::JoinHandle<int>> throwers, parked;
  std::vector<duet::JoinHandle<void>> unstarted;
  for (int i = 0; i < 50; ++i) {
    throwers.push_back(rt.spawn(duet::stackful, [&gate, i]() -> int {
      duet::wait(gate.wait());
      throw std::runtime_error("fiber " + std::to_string(i));
    }));
    parked.push_back(rt.spawn(duet::stackful, [&never] {
      duet::wait(never.wait());
      return 1;
    }));
  }
  while (gate.waiters() < 50 || never.waiters() < 50) std::this_thread::yield();
  CHECK(stack_pool_stats().in_use == base + 100);
  gate.open();
  for (auto& h : parked) h.cancel();  // each unwinds, then gives its stack back
  wait_all_finished(throwers);
  wait_all_finished(parked);
  CHECK(stack_pool_stats().in_use == base);
  for (int i = 0; i < 50; ++i) {
    REQUIRE_THROWS_WITH(throwers[static_cast<std::size_t>(i)].join(), "fiber " + std::to_string(i));
    REQUIRE_THROWS_AS(parked[static_cast<std::size_t>(i)].join(), duet::Cancelled);
  }
}

TEST_CASE(
    "waves of short fibers reuse stacks: the stacks mapped follow the fibers running at "
    "once, not the total spawned",
    "[stackful][stack_life]") {
  duet::test::Watchdog wd("waves of short fibers", std::chrono::seconds(240));
  const int waves = duet::test::sanitized ? 3 : 10;
  const int per_wave = duet::test::sanitized ? 5'000 : 10'000;
  duet::Runtime rt(two_workers());
  const auto before = stack_pool_stats();
  std::atomic<long> sum{0};
  for (int w = 0; w < waves; ++w) {
    // Spawned from a fiber (into its worker's queues; the other worker
    // steals), all spawned before any is joined: a fiber that kept its
    // stack until its join would need one per fiber of the wave.
    auto root = rt.spawn(duet::stackful, [&sum, per_wave] {
      std::vector<duet::JoinHandle<int>> hs;
      hs.reserve(static_cast<std::size_t>(per_wave));
      for (int i = 0; i < per_wave; ++i) {
        hs.push_back(duet::spawn(duet::stackful, [&sum, i] {
          sum.fetch_add(1, std::memory_order_relaxed);
          return i;
        }));
      }
      long s = 0;
      for (auto& h : hs) s += h.join();
      return s;
    });
    REQUIRE(root.join() == static_cast<long>(per_wave) * (per_wave - 1) / 2);
  }
  const auto after = stack_pool_stats();
  REQUIRE(sum.load() == static_cast<long>(waves) * per_wave);
  INFO("stacks mapped: " << after.mapped - before.mapped << " for " << waves * per_wave
                         << " fibers, " << after.slabs - before.slabs << " slabs");
  // At most a few fibers run at once (two workers, the root included); each
  // worker maps whole slabs of at most 64 stacks. Four slabs is generous.
  CHECK(after.mapped - before.mapped <= 4 * 64);
  CHECK(after.in_use == before.in_use);
}

TEST_CASE(
    "pooled stacks past the resident mark give their pages back in batches and run again when "
    "reused",
    "[stackful][stack_life]") {
  duet::test::Watchdog wd("stack pages given back in batches");
  const duet::test::StackTuningRestore restore;
  duet::StackTuning t = restore.saved;
  t.pool_resident_bytes = 0;  // every stack that reaches the global pool goes cold
  t.thread_cache_stacks = 8;
  duet::set_stack_tuning(t);
  const int n = duet::test::sanitized ? 600 : 1'000;
  for (int round = 0; round < 2; ++round) {
    // n fibers parked at once: n stacks, most of which reach the global
    // pool when they finish. The second round reuses stacks whose pages
    // went back: each fiber's frame must survive its park all the same.
    INFO("round " << round);
    const auto before = stack_pool_stats();
    {
      // A runtime per round: a join returns once the fiber's completion is
      // published, before its stack is recycled (and a recycle may be
      // giving a batch back right then); its workers' exit waits for that.
      // Their caches go to the pool then too.
      duet::Runtime rt(two_workers());
      Gate gate;
      std::vector<duet::JoinHandle<long>> hs;
      for (int i = 0; i < n; ++i) {
        hs.push_back(rt.spawn(duet::stackful, [&gate, i] {
          volatile long frame[256];
          for (int k = 0; k < 256; ++k) frame[k] = i * 1000 + k;
          duet::wait(gate.wait());
          long bad = 0;
          for (int k = 0; k < 256; ++k) bad += frame[k] != i * 1000 + k ? 1 : 0;
          return bad;
        }));
      }
      while (gate.waiters() < n) std::this_thread::yield();
      gate.open();
      for (auto& h : hs) REQUIRE(h.join() == 0);
    }
    // Those waiting for a batch to fill go now.
    const std::size_t trimmed_now = duet::trim_stack_pool();
    const auto after = stack_pool_stats();
    const std::size_t advised = after.advised - before.advised;
    const std::size_t calls = after.advise_calls - before.advise_calls;
    INFO("stacks advised " << advised << " in " << calls << " madvise calls, " << trimmed_now
                           << " by trim_stack_pool");
    // Every stack reached the pool (the workers' caches at their exit) and
    // went cold.
    CHECK(advised >= static_cast<std::size_t>(n));
    // In batches: one call per run of adjacent stacks, not one per stack.
    CHECK(calls * 4 <= advised);
    CHECK(after.resident_bytes == 0);
    CHECK(after.in_use == before.in_use);
  }
}

TEST_CASE("a fiber that cannot get a stack ends with a StackError and runs nothing",
          "[stackful][stack_life][errors]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  DUET_SKIP(
      "the sanitizer runtimes reserve terabytes of shadow memory, so RLIMIT_AS cannot be "
      "set just above what the process maps");
#endif
  auto r = duet::test::run_in_child([] {
    duet::Runtime rt(two_workers());
    // Leave 512 MiB of address space: a 1 GiB lazy reservation cannot fit,
    // while whatever else the spawn and the join need can (a worker's first
    // malloc maps a 64 MiB glibc arena aligned inside a 128 MiB reservation:
    // with a 64 MiB margin that failed first, about one run in ten).
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    statm >> pages;
    const std::size_t vm = pages * duet::detail::page_size();
    static_assert(duet::max_fiber_stack > (std::size_t{512} << 20));
    rlimit lim{vm + (std::size_t{512} << 20), vm + (std::size_t{512} << 20)};
    setrlimit(RLIMIT_AS, &lim);
    std::atomic<bool> ran{false};
    auto h = rt.spawn(
        duet::stackful({.strategy = StackStrategy::lazy, .stack_size = duet::max_fiber_stack}),
        [&ran] {
          ran = true;
          return 1;
        });
    try {
      (void)h.join();
      _exit(3);  // no error
    } catch (const duet::StackError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      if (std::string(e.what()).find("RLIMIT_AS") == std::string::npos) _exit(4);
    }
    if (ran.load()) _exit(5);
    // The runtime goes on: a fiber with a small stack runs.
    if (rt.spawn(duet::stackful({.stack_size = 16384}), [] { return 7; }).join() != 7) _exit(6);
    _exit(0);
  });
  INFO(r.err);
  REQUIRE(r.exited);
  REQUIRE(r.exit_code == 0);
}

// Every stack strategy runs fibers that park, yield, move between workers,
// recurse, get cancelled, and report invalid options to the spawner
// (stack_life_test.cpp: stacks that cannot be had).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "duet/duet.hpp"
#include "fiber_test_util.hpp"

using duet::StackStrategy;
using duet::test::Gate;

namespace {

duet::RuntimeConfig strategies_two_workers() {
  duet::RuntimeConfig c;
  c.workers = 2;
  c.placement = duet::Placement::none;
  return c;
}

/// Recursion with 64 bytes of locals per frame that the optimizer keeps.
[[gnu::noinline]] std::uint64_t recurse(std::uint64_t n) {
  volatile char pad[64];
  std::memset(const_cast<char*>(pad), static_cast<int>(n & 0x7f), sizeof pad);
  if (n == 0) return pad[3];
  return recurse(n - 1) + pad[n % 64];
}

}  // namespace

TEST_CASE("every strategy runs, yields and returns", "[stackful][strategy]") {
  duet::Runtime rt(strategies_two_workers());
  for (StackStrategy s : duet::test::all_strategies) {
    INFO(duet::test::strategy_name(s));
    std::vector<duet::JoinHandle<int>> hs;
    for (int i = 0; i < 200; ++i) {
      hs.push_back(rt.spawn(duet::stackful({.strategy = s}), [i] {
        int local = i;
        int* p = &local;  // a pointer into its own stack, kept across switches
        for (int k = 0; k < 5; ++k) {
          duet::this_fiber::yield();
          *p += 1;
        }
        return local;
      }));
    }
    for (int i = 0; i < 200; ++i) REQUIRE(hs[static_cast<std::size_t>(i)].join() == i + 5);
  }
}

TEST_CASE("the runtime default strategy applies to plain spawns", "[stackful][strategy]") {
  auto cfg = strategies_two_workers();
  cfg.fiber_stack_strategy = StackStrategy::copy;
  duet::Runtime rt(cfg);
  bool copy = rt.block_on(duet::stackful, [] { return duet::this_fiber::is_copy_fiber(); });
  REQUIRE(copy);
  bool pooled = rt.block_on(duet::stackful({.strategy = StackStrategy::pooled}),
                            [] { return duet::this_fiber::is_copy_fiber(); });
  REQUIRE_FALSE(pooled);
}

TEST_CASE("fibers of every strategy park on a gate and all wake", "[stackful][strategy]") {
  duet::Runtime rt(strategies_two_workers());
  for (StackStrategy s : duet::test::all_strategies) {
    INFO(duet::test::strategy_name(s));
    Gate gate;
    std::vector<duet::JoinHandle<std::uint64_t>> hs;
    for (int i = 0; i < 100; ++i) {
      hs.push_back(rt.spawn(duet::stackful({.strategy = s}), [&gate, i] {
        std::uint64_t before = recurse(static_cast<std::uint64_t>(i));
        duet::wait(gate.wait());
        return before + recurse(static_cast<std::uint64_t>(i));
      }));
    }
    while (gate.waiters() < 100) std::this_thread::yield();
    gate.open();
    for (int i = 0; i < 100; ++i) {
      REQUIRE(hs[static_cast<std::size_t>(i)].join() == 2 * recurse(static_cast<std::uint64_t>(i)));
    }
  }
}

TEST_CASE("copy fibers keep their stack contents across suspension and workers",
          "[stackful][copy]") {
  duet::Runtime rt(strategies_two_workers());
  std::vector<duet::JoinHandle<bool>> hs;
  for (int i = 0; i < 300; ++i) {
    hs.push_back(rt.spawn(duet::stackful({.strategy = StackStrategy::copy}), [i] {
      char buf[3000];  // several cache lines of state on the shared stack
      for (std::size_t k = 0; k < sizeof buf; ++k) buf[k] = static_cast<char>(k * 7 + i);
      for (int r = 0; r < 20; ++r) duet::this_fiber::yield();
      for (std::size_t k = 0; k < sizeof buf; ++k) {
        if (buf[k] != static_cast<char>(k * 7 + i)) return false;
      }
      return duet::this_fiber::points_into_stack(buf);
    }));
  }
  for (auto& h : hs) REQUIRE(h.join());
}

TEST_CASE("copy fibers join coroutines and fibers of other strategies", "[stackful][copy]") {
  duet::Runtime rt(strategies_two_workers());
  auto inner = rt.spawn(duet::stackful({.strategy = StackStrategy::pooled}), [] {
    duet::this_fiber::yield();
    return 20;
  });
  auto outer = rt.spawn(duet::stackful({.strategy = StackStrategy::copy}),
                        [&inner] { return inner.join() + 1; });
  REQUIRE(outer.join() == 21);
}

TEST_CASE("wait_off_stack moves the operation off a copy fiber's stack", "[stackful][copy]") {
  duet::Runtime rt(strategies_two_workers());
  Gate gate;
  auto h = rt.spawn(duet::stackful({.strategy = StackStrategy::copy}), [&gate] {
    duet::this_fiber::wait_off_stack(gate.wait());
    return 7;
  });
  while (gate.waiters() < 1) std::this_thread::yield();
  gate.open();
  REQUIRE(h.join() == 7);
}

TEST_CASE("wait_off_stack takes lvalue move-only operations on every strategy",
          "[stackful][copy]") {
  duet::Runtime rt(strategies_two_workers());
  for (StackStrategy s : {StackStrategy::copy, StackStrategy::pooled, StackStrategy::lazy}) {
    INFO(duet::test::strategy_name(s));
    auto ch = duet::Channel<int>::bounded(0);
    duet::Mutex mu;
    std::atomic<int> stage{0};
    auto h = rt.spawn(duet::stackful({.strategy = s}), [ch, &mu, &stage]() mutable {
      auto recv = ch.recv();  // lvalues of move-only futures
      stage.store(1);
      const int got = duet::this_fiber::wait_off_stack(recv).value_or(-1);
      auto lock = mu.lock();
      auto guard = duet::this_fiber::wait_off_stack(lock);
      auto nap = duet::sleep(std::chrono::milliseconds(1));
      duet::this_fiber::wait_off_stack(nap);
      return got;
    });
    while (stage.load() == 0) std::this_thread::yield();
    REQUIRE(duet::wait(ch.send(41)).ok());
    REQUIRE(h.join() == 41);
    REQUIRE_FALSE(mu.is_locked());
  }
}

TEST_CASE("lazy stacks recurse deep and give deep pages back", "[stackful][lazy]") {
  duet::Runtime rt(strategies_two_workers());
  const auto before = duet::detail::stack_pool_stats().trimmed;
  // 100K frames of 64-byte locals: ~10 MB of stack in a 64 MiB reservation
  // (30K under TSan, whose shadow call stack holds 64K frames per thread).
#if defined(__SANITIZE_THREAD__)
  constexpr std::uint64_t depth = 30'000;
#else
  constexpr std::uint64_t depth = 100'000;
#endif
  auto h = rt.spawn(duet::stackful({.strategy = StackStrategy::lazy, .stack_size = 64 << 20}),
                    [] { return recurse(depth); });
  std::uint64_t expect = 0;  // recurse(n) sums k & 0x7f for k in 1..n
  for (std::uint64_t k = 1; k <= depth; ++k) expect += k & 0x7f;
  REQUIRE(h.join() == expect);
  // The stack went past the high-water mark: it is trimmed when released,
  // which the worker may do just after the join returned.
  for (int i = 0; i < 10'000 && duet::detail::stack_pool_stats().trimmed == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(duet::detail::stack_pool_stats().trimmed > before);
}

TEST_CASE("oversized and impossible stacks throw to the spawner", "[stackful][errors]") {
  duet::Runtime rt(strategies_two_workers());
  REQUIRE_THROWS_AS(rt.spawn(duet::stackful({.strategy = StackStrategy::lazy,
                                             .stack_size = duet::max_fiber_stack + 1}),
                             [] {}),
                    std::invalid_argument);
  duet::StackTuning t = duet::stack_tuning();
  t.lazy_reserve_bytes = 0;
  REQUIRE_THROWS_AS(duet::set_stack_tuning(t), std::invalid_argument);
}

TEST_CASE("cancelled fibers of every strategy unwind", "[stackful][cancel]") {
  std::atomic<int> destroyed{0};
  struct Guard {
    std::atomic<int>* n;
    ~Guard() { n->fetch_add(1); }
  };
  {
    duet::Runtime rt(strategies_two_workers());
    Gate gate;  // never opened
    std::vector<duet::JoinHandle<void>> hs;
    for (StackStrategy s : duet::test::all_strategies) {
      for (int i = 0; i < 10; ++i) {
        hs.push_back(rt.spawn(duet::stackful({.strategy = s}), [&gate, &destroyed] {
          Guard g{&destroyed};
          duet::wait(gate.wait());
        }));
      }
    }
    while (gate.waiters() < 40) std::this_thread::yield();
    hs[0].cancel();
    REQUIRE_THROWS_AS(hs[0].join(), duet::Cancelled);
  }  // shutdown unwinds the others
  REQUIRE(destroyed.load() == 40);
}

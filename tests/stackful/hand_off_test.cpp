// The direct hand-off (duet/detail/hand_off.hpp): a fiber that parks, yields
// or finishes while its worker's next task is a fiber jumps straight into
// it, and the arriving fiber does the worker loop's bookkeeping for the one
// that left. These tests check that hand-offs happen (WorkerStats::hand_offs)
// and that nothing is lost through them: values, exceptions, order of
// yields, cancellation in every state (queued and never run, queued after a
// park, parked, running), StackErrors, stacks given back; with coroutines
// and copy fibers (which never take part) mixed in, on one and two workers,
// for every stack strategy.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "duet/duet.hpp"
#include "fiber_test_util.hpp"
#include "test_util.hpp"
#include "worker_stats.hpp"

using duet::StackStrategy;
using duet::detail::stack_pool_stats;
using duet::test::Gate;

namespace {

std::uint64_t hand_offs(duet::Runtime& rt) {
  return duet::test::worker_stat(rt, &duet::WorkerStats::hand_offs);
}

}  // namespace

TEST_CASE("fibers that wake each other hand over directly, one worker", "[stackful][hand_off]") {
  duet::test::Watchdog wd("hand-off ping-pong");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  for (StackStrategy s : duet::test::all_strategies) {
    INFO(duet::test::strategy_name(s));
    const std::uint64_t before = hand_offs(rt);
    auto ping = duet::Channel<int>::bounded(0);
    auto pong = duet::Channel<int>::bounded(0);
    constexpr int rounds = 2000;
    auto a = rt.spawn(duet::stackful({.strategy = s}),
                      [&] { return duet::test::fiber_ping(ping, pong, rounds); });
    auto b = rt.spawn(duet::stackful({.strategy = s}), [&] {
      int n = 0;
      while (auto v = duet::wait(ping.recv())) {
        ++n;
        if (!duet::wait(pong.send(*v + 1))) break;
      }
      return n;
    });
    CHECK(a.join() == rounds);
    CHECK(b.join() == rounds);
    // Copy fibers always go through the worker; the others hand over.
    if (s == StackStrategy::copy) {
      CHECK(hand_offs(rt) == before);
    } else {
      CHECK(hand_offs(rt) - before >= rounds);
    }
  }
}

namespace {
/// A fiber's body: records `id`, then yields; `turns` times.
auto yielding_fiber(std::vector<int>& trace, int id, int turns) {
  return [&trace, id, turns] {
    for (int k = 0; k < turns; ++k) {
      trace.push_back(id);
      duet::this_fiber::yield();
    }
  };
}

/// Round robin: each turn, every one of the `n` tasks once. The first round
/// is the order in which they were spawned and run (the LIFO slot runs the
/// last one first).
void check_round_robin(const std::vector<int>& trace, std::size_t n, std::size_t turns) {
  REQUIRE(trace.size() == n * turns);
  for (std::size_t k = 1; k < turns; ++k) {
    for (std::size_t i = 0; i < n; ++i) CHECK(trace[k * n + i] == trace[i]);
  }
}
}  // namespace

TEST_CASE("yields in turn keep their order through hand-offs", "[stackful][hand_off]") {
  duet::test::Watchdog wd("hand-off yields");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  const std::uint64_t before = hand_offs(rt);
  std::vector<int> trace;  // one worker: plain data
  constexpr int n = 4;
  constexpr int turns = 50;
  rt.block_on([&]() -> duet::Task<void> {
    std::vector<duet::JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn(duet::stackful, yielding_fiber(trace, i, turns)));
    }
    for (auto& x : hs) co_await x;
  }());
  check_round_robin(trace, n, turns);
  CHECK(hand_offs(rt) - before >= std::uint64_t{n} * (turns - 1));
}

namespace {
duet::Task<void> yielding_coro(std::vector<int>& trace, int id, int turns) {
  for (int k = 0; k < turns; ++k) {
    trace.push_back(id);
    co_await duet::yield_now();
  }
}
}  // namespace

// Every answer of take_yield_turn: the next task is a fiber it jumps into, a
// coroutine or a copy fiber it hands to the loop, or nothing while the tick's
// budget is spent (the loop's maintenance first); a copy fiber that yields
// always goes back to the loop. Round-robin order holds through all of them.
TEST_CASE("yields keep their order with coroutines and copy fibers in the ring, at any tick budget",
          "[stackful][hand_off]") {
  duet::test::Watchdog wd("mixed yields");
  for (std::uint32_t budget : {2u, 3u, 7u, 128u}) {
    INFO("tick_budget " << budget);
    duet::RuntimeConfig cfg = duet::test::cpu_only_config(1);
    cfg.tick_budget = budget;
    duet::Runtime rt(cfg);
    const std::uint64_t before = hand_offs(rt);
    std::vector<int> trace;  // one worker: plain data
    constexpr int turns = 60;
    // Kinds by id % 4: pooled fiber, pooled fiber, coroutine, copy fiber:
    // two pooled fibers next to each other in the ring hand over directly.
    constexpr int n = 8;
    rt.block_on([&]() -> duet::Task<void> {
      std::vector<duet::JoinHandle<void>> hs;
      for (int i = 0; i < n; ++i) {
        if (i % 4 == 2) {
          hs.push_back(rt.spawn(yielding_coro(trace, i, turns)));
          continue;
        }
        const StackStrategy s = i % 4 == 3 ? StackStrategy::copy : StackStrategy::pooled;
        hs.push_back(rt.spawn(duet::stackful({.strategy = s}), yielding_fiber(trace, i, turns)));
      }
      for (auto& x : hs) co_await x;
    }());
    check_round_robin(trace, n, turns);
    // With a budget of 2 every yield goes to the loop.
    if (budget > 2) CHECK(hand_offs(rt) > before);
  }
}

TEST_CASE("a yield with nothing else to run goes on in place", "[stackful][hand_off]") {
  duet::Runtime rt(duet::test::cpu_only_config(1));
  int v = rt.block_on(duet::stackful, [] {
    int k = 0;
    for (int i = 0; i < 1000; ++i) {
      duet::this_fiber::yield();
      ++k;
    }
    return k;
  });
  CHECK(v == 1000);
  std::uint64_t yields = 0;
  for (const auto& s : rt.stats()) yields += s.yields;
  CHECK(yields >= 1000);
}

TEST_CASE(
    "a finishing fiber hands over to the next one: values and exceptions reach the joins "
    "and the stacks come back",
    "[stackful][hand_off]") {
  duet::test::Watchdog wd("hand-off at finish");
  for (StackStrategy s :
       {StackStrategy::pooled, StackStrategy::lazy, StackStrategy::unguarded_unsafe}) {
    INFO(duet::test::strategy_name(s));
    duet::Runtime rt(duet::test::cpu_only_config(1));
    const std::size_t base = stack_pool_stats().in_use;
    const std::uint64_t before = hand_offs(rt);
    constexpr int n = 300;
    // A fiber spawns n children (queued behind each other) and joins them:
    // each child that finishes hands the worker to the next.
    long sum = rt.block_on(duet::stackful({.strategy = s}), [&rt, s] {
      std::vector<duet::JoinHandle<int>> hs;
      for (int i = 0; i < n; ++i) {
        hs.push_back(rt.spawn(duet::stackful({.strategy = s}), [i]() -> int {
          if (i % 7 == 3) throw std::runtime_error("seven");
          return i;
        }));
      }
      long total = 0;
      for (int i = 0; i < n; ++i) {
        try {
          total += hs[static_cast<std::size_t>(i)].join();
        } catch (const std::runtime_error&) {
          total += 1000000;  // one per throwing child
        }
      }
      return total;
    });
    long want = 0;
    for (int i = 0; i < n; ++i) want += i % 7 == 3 ? 1000000 : i;
    CHECK(sum == want);
    // A fiber's first run is handed over only when its worker's cache holds
    // a stack for it: pooled and unguarded stacks come in slabs that fill
    // the cache; lazy stacks are mapped one at a time, and the one that
    // circulates is still held by the fiber that finishes.
    if (s != StackStrategy::lazy) CHECK(hand_offs(rt) - before >= n / 2);
    CHECK(stack_pool_stats().in_use == base);
  }
}

TEST_CASE("a cancelled fiber next in line is cancelled by the worker, not switched to",
          "[stackful][hand_off]") {
  duet::test::Watchdog wd("hand-off to a cancelled fiber");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  const std::size_t base = stack_pool_stats().in_use;
  std::atomic<int> fresh_ran{0}, before_wait{0}, after_wait{0};
  // One worker, so the order is fixed: the parent runs until it switches.
  const int cancelled = rt.block_on(duet::stackful, [&] {
    int n = 0;
    // Queued, never run: cancelled before the parent switches out; the
    // parent's join hands the worker on, and the worker cancels it.
    auto fresh = rt.spawn(duet::stackful, [&] { fresh_ran.fetch_add(1); });
    fresh.cancel();
    try {
      fresh.join();
    } catch (const duet::Cancelled&) {
      ++n;
    }
    // Ran and parked, then woken (queued) and cancelled before it runs on.
    Gate g;
    auto parked = rt.spawn(duet::stackful, [&] {
      before_wait.fetch_add(1);
      duet::wait(g.wait());
      after_wait.fetch_add(1);
    });
    duet::this_fiber::yield();  // hands over to `parked`, which parks
    g.open();
    parked.cancel();
    try {
      parked.join();
    } catch (const duet::Cancelled&) {
      ++n;
    }
    return n;
  });
  CHECK(cancelled == 2);
  CHECK(fresh_ran.load() == 0);
  CHECK(before_wait.load() == 1);
  CHECK(after_wait.load() == 0);
  CHECK(stack_pool_stats().in_use == base);
}

TEST_CASE(
    "hand-off stress: fibers of every strategy and coroutines relay messages, yield, and "
    "get cancelled at random, on two workers",
    "[stackful][hand_off]") {
  duet::test::Watchdog wd("hand-off stress", std::chrono::seconds(300));
  duet::Runtime rt(duet::test::cpu_only_config(2));
  const std::size_t base = stack_pool_stats().in_use;
  std::mt19937 rng(12345);
  constexpr int chains = 24;
  constexpr int messages = 300;
  for (int round = 0; round < 3; ++round) {
    std::vector<duet::JoinHandle<int>> relays;
    std::vector<duet::JoinHandle<int>> sinks;
    std::vector<duet::JoinHandle<void>> sources;
    std::vector<bool> cancelled_chain(chains, false);
    std::vector<duet::Channel<int>> firsts, seconds;
    std::atomic<int> out_of_order{0};
    for (int c = 0; c < chains; ++c) {
      // source -> relay (fiber of some strategy, or coroutine) -> sink (fiber)
      auto a = duet::Channel<int>::bounded(static_cast<std::size_t>(c % 3));
      auto b = duet::Channel<int>::bounded(static_cast<std::size_t>(c % 2));
      firsts.push_back(a);
      seconds.push_back(b);
      const StackStrategy s = duet::test::all_strategies[static_cast<std::size_t>(c) %
                                                         std::size(duet::test::all_strategies)];
      sources.push_back(rt.spawn(duet::stackful({.strategy = s}), [a]() mutable {
        for (int i = 0; i < messages; ++i) {
          if (!duet::wait(a.send(i))) return;
          if (i % 5 == 0) duet::this_fiber::yield();
        }
        a.close();
      }));
      if (c % 4 == 0) {
        relays.push_back(rt.spawn(duet::test::coro_relay(a, b)));
      } else {
        relays.push_back(rt.spawn(duet::stackful({.strategy = s}), [a, b]() mutable {
          int n = 0;
          while (auto v = duet::wait(a.recv())) {
            ++n;
            if (!duet::wait(b.send(*v + 1))) break;
          }
          b.close();
          return n;
        }));
      }
      sinks.push_back(rt.spawn(duet::stackful, [b, &out_of_order]() mutable {
        int n = 0;
        while (auto v = duet::wait(b.recv())) {
          if (*v != n + 1) out_of_order.fetch_add(1);  // in order, nothing lost or doubled
          ++n;
        }
        return n;
      }));
    }
    // Cancel some relays at random moments (queued, parked or running).
    for (int c = 0; c < chains; ++c) {
      if (rng() % 3 == 0) {
        for (unsigned spin = rng() % 2000; spin > 0; --spin) std::this_thread::yield();
        relays[static_cast<std::size_t>(c)].cancel();
        cancelled_chain[static_cast<std::size_t>(c)] = true;
      }
    }
    for (int c = 0; c < chains; ++c) {
      const auto i = static_cast<std::size_t>(c);
      int relayed = -1;
      try {
        relayed = relays[i].join();
      } catch (const duet::Cancelled&) {
        CHECK(cancelled_chain[i]);
      }
      // A cancelled relay never closes its channels: the test does.
      firsts[i].close();
      seconds[i].close();
      const int sunk = sinks[i].join();
      if (relayed >= 0) {
        // The relay ran to the end: every message went through (a relay
        // cancelled too late also ends here).
        CHECK(relayed == messages);
        CHECK(sunk == messages);
      } else {
        // Cancelled: the sink got a prefix of the messages.
        CHECK(sunk <= messages);
      }
      sources[i].join();  // its channel is closed: it returns
    }
    CHECK(out_of_order.load() == 0);
  }
  CHECK(hand_offs(rt) > 0);
  CHECK(stack_pool_stats().in_use == base);
}

TEST_CASE("a finishing fiber hands off only when its stack goes back to the cache cheaply",
          "[stackful][hand_off]") {
  // The fiber that lands recycles the finished one's stack on its own
  // stack. With a cache of 2 stacks, every few finishes spill half of it
  // to the global pool, and with no resident allowance every 256 spilled
  // stacks are sorted and given back with madvise: that work must not run
  // on an 8 KiB fiber stack (it overflowed one under ASan). The finishing
  // fiber goes back to the worker instead, which does it on its own stack.
  duet::test::Watchdog wd("hand-off stack recycle");
  const duet::test::StackTuningRestore restore;
  duet::StackTuning t = restore.saved;
  t.thread_cache_stacks = 2;
  t.pool_resident_bytes = 0;
  duet::set_stack_tuning(t);
  const auto base = stack_pool_stats();
  // A runtime of its own: its workers' exit waits for the last recycles
  // (a join returns once the completion is published, before that).
  std::optional<duet::Runtime> rt_box(std::in_place, duet::test::cpu_only_config(1));
  duet::Runtime& rt = *rt_box;
  const std::uint64_t before = hand_offs(rt);
  constexpr int n = 2000;
  std::vector<duet::JoinHandle<int>> hs;
  hs.reserve(n);
  const duet::FiberConfig small{.strategy = StackStrategy::pooled, .stack_size = 8192};
  for (int round = 0; round < 2; ++round) {
    // All of them parked at once (each holds a stack), then woken: they
    // finish one after another, each handing over to the next.
    duet::test::Gate gate;
    gate.reserve(n);
    std::atomic<int> parked{0};
    hs.clear();
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn(duet::stackful(small), [i, &gate, &parked] {
        parked.fetch_add(1);
        duet::wait(gate.wait());
        return i;
      }));
    }
    while (parked.load() < n) std::this_thread::yield();
    gate.open();
    long sum = 0;
    for (auto& h : hs) sum += h.join();
    CHECK(sum == static_cast<long>(n) * (n - 1) / 2);
  }
  CHECK(hand_offs(rt) > before);  // the cheap ones still hand over
  rt_box.reset();
  CHECK(stack_pool_stats().in_use == base.in_use);
  CHECK(stack_pool_stats().advise_calls > base.advise_calls);
}

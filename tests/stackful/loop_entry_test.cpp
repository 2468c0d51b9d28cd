// The worker loop's flat entry (flat_jump in common/src/sched/worker.cpp):
// a fiber that no other fiber hands over to is jumped into from the loop's own
// frame and resumes the loop by an indirect jump, while a fiber entered by
// a call (the join hand-off, cancellation) is resumed by the switch's
// `ret`. These tests drive every way in and out of the loop's side: a
// fiber woken by a coroutine each time (every park back to the loop, every
// resume from it), its first entry and its last switch, a join hand-off
// run inside a fiber the loop entered (an entry by a call nested in a flat
// one), cancellation of a fiber parked by the flat path, on one and two
// workers (a fiber resumed by another worker's loop), for every stack
// strategy (copy fibers are entered through `run`, the old way). Values,
// order and outcomes must come through unchanged. A fiber that never ran
// is entered by a call's jump, not a `ret` into its trampoline, and leaves
// by a `ret` into that call when it never switched out in between
// (fiber.cpp, exit_fiber): joined children that return at once, yield,
// park, throw or join a child of their own take each combination.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>

#include "duet/duet.hpp"
#include "fiber_test_util.hpp"
#include "test_util.hpp"
#include "worker_stats.hpp"

using duet::StackStrategy;

TEST_CASE("a fiber and a coroutine wake each other through the worker loop",
          "[stackful][loop_entry]") {
  duet::test::Watchdog wd("fiber-coroutine ping-pong");
  for (unsigned workers : {1U, 2U}) {
    duet::Runtime rt(duet::test::cpu_only_config(workers));
    for (StackStrategy s : duet::test::all_strategies) {
      INFO(duet::test::strategy_name(s) << ", " << workers << " worker(s)");
      auto ping = duet::Channel<int>::bounded(0);
      auto pong = duet::Channel<int>::bounded(0);
      constexpr int rounds = 3000;
      auto echo = rt.spawn(duet::test::coro_relay(ping, pong));
      auto fib = rt.spawn(duet::stackful({.strategy = s}),
                          [&] { return duet::test::fiber_ping(ping, pong, rounds); });
      CHECK(fib.join() == rounds);
      CHECK(echo.join() == rounds);
    }
  }
}

TEST_CASE("many fibers woken by one coroutine keep their values through the loop",
          "[stackful][loop_entry]") {
  // Each fiber parks back to the loop in turn, and the loop enters the
  // next one: the return addresses the last parked fiber left are another
  // fiber's, at another depth of its own frames.
  duet::test::Watchdog wd("fibers fed by a coroutine");
  for (unsigned workers : {1U, 2U}) {
    duet::Runtime rt(duet::test::cpu_only_config(workers));
    constexpr int fibers = 16;
    constexpr int rounds = 200;
    auto to_fibers = duet::Channel<int>::bounded(0);
    auto back = duet::Channel<int>::bounded(0);
    std::vector<duet::JoinHandle<long>> hs;
    for (int k = 0; k < fibers; ++k) {
      hs.push_back(rt.spawn(duet::stackful, [&, k]() -> long {
        long sum = 0;
        // Different depths of the fiber's own frames at each park.
        auto deep = [&](auto& self, int d) -> std::optional<int> {
          if (d == 0) return duet::wait(to_fibers.recv());
          return self(self, d - 1);
        };
        while (auto v = deep(deep, k % 4)) {
          sum += *v;
          if (!duet::wait(back.send(*v))) break;
        }
        return sum;
      }));
    }
    auto feeder =
        rt.spawn([](duet::Channel<int> out, duet::Channel<int> in, int n) -> duet::Task<long> {
          long echoed = 0;
          for (int i = 1; i <= n; ++i) {
            if (!co_await out.send(i)) break;
            if (auto v = co_await in.recv()) echoed += *v;
          }
          out.close();
          co_return echoed;
        }(to_fibers, back, fibers * rounds));
    const long n = fibers * rounds;
    const long want = n * (n + 1) / 2;
    CHECK(feeder.join() == want);
    long got = 0;
    for (auto& h : hs) got += h.join();
    CHECK(got == want);
  }
}

TEST_CASE("a join hand-off inside a fiber the loop entered, then back to the loop",
          "[stackful][loop_entry]") {
  // The child is entered by a call from the parent's stack (enter), and
  // leaves by its last switch; the parent then parks back to the loop's
  // frame, whose side must be the loop's again.
  duet::test::Watchdog wd("join hand-off inside a flat entry");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  for (StackStrategy s : duet::test::all_strategies) {
    INFO(duet::test::strategy_name(s));
    auto ping = duet::Channel<int>::bounded(0);
    auto pong = duet::Channel<int>::bounded(0);
    constexpr int rounds = 500;
    auto echo = rt.spawn(duet::test::coro_relay(ping, pong));
    auto fib = rt.spawn(duet::stackful({.strategy = s}), [&] {
      int good = 0;
      for (int i = 0; i < rounds; ++i) {
        const int child = duet::spawn(duet::stackful, [i] { return i * 2; }).join();
        if (!duet::wait(ping.send(child))) break;
        if (duet::wait(pong.recv()) == child + 1) ++good;
        if (i % 7 == 0) {
          auto thrower =
              duet::spawn(duet::stackful, []() -> int { throw std::runtime_error("x"); });
          CHECK_THROWS_AS(thrower.join(), std::runtime_error);
        }
      }
      ping.close();
      return good;
    });
    CHECK(fib.join() == rounds);
    CHECK(echo.join() == rounds);
  }
}

TEST_CASE("a fiber parked by the loop's path is cancelled and unwinds", "[stackful][loop_entry]") {
  duet::test::Watchdog wd("cancel a fiber parked back to the loop");
  for (unsigned workers : {1U, 2U}) {
    duet::Runtime rt(duet::test::cpu_only_config(workers));
    for (StackStrategy s : duet::test::all_strategies) {
      INFO(duet::test::strategy_name(s) << ", " << workers << " worker(s)");
      auto never = duet::Channel<int>::bounded(0);
      auto ready = duet::Channel<int>::bounded(1);
      std::atomic<int> unwound{0};
      struct Guard {
        std::atomic<int>* n;
        ~Guard() { n->fetch_add(1); }
      };
      auto fib = rt.spawn(duet::stackful({.strategy = s}), [&] {
        Guard g{&unwound};
        for (int i = 0; i < 3; ++i) duet::this_fiber::yield();  // through the loop and back
        (void)duet::wait(ready.send(1));
        (void)duet::wait(never.recv());  // parked until cancelled
        return 0;
      });
      // A coroutine sees it parked, then it is cancelled from this thread.
      auto seen = rt.spawn([](duet::Channel<int> r) -> duet::Task<int> {
        auto v = co_await r.recv();
        co_return v.value_or(-1);
      }(ready));
      CHECK(seen.join() == 1);
      fib.cancel();
      CHECK_THROWS_AS(fib.join(), duet::Cancelled);
      CHECK(unwound.load() == 1);
    }
  }
}

namespace {
duet::Task<void> send_one(duet::Channel<int> ch, int v) {
  (void)co_await ch.send(v);
}
}  // namespace

TEST_CASE(
    "children joined in place return, yield, park, throw and nest, from fibers and coroutines",
    "[stackful][loop_entry]") {
  // Each child is fresh when its joiner's poll runs it (the join
  // hand-off): entered by a jump, it leaves by a `ret` into the joiner's
  // call unless it switched out first. Results, exceptions and the
  // joiner's own switches must come through whichever way it left.
  duet::test::Watchdog wd("children joined in place");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  auto child = [](StackStrategy s, int i) {
    return duet::spawn(duet::stackful({.strategy = s}), [s, i]() -> int {
      switch (i % 5) {
        case 0:
          return i;  // never switches out
        case 1:
          duet::this_fiber::yield();  // back to the joiner, later from the loop
          return i;
        case 2: {
          // Parks: the value comes from a coroutine that runs only once
          // the child has switched out.
          auto ch = duet::Channel<int>::bounded(0);
          duet::spawn(send_one(ch, i)).detach();
          return duet::wait(ch.recv()).value_or(-1);
        }
        case 3:
          throw std::runtime_error("child");
        default:  // joins a fresh child of its own, then returns
          return duet::spawn(duet::stackful({.strategy = s}), [i] { return i; }).join();
      }
    });
  };
  const auto check = [](int i, auto&& join) {
    if (i % 5 == 3) {
      CHECK_THROWS_AS(join(), std::runtime_error);
    } else {
      CHECK(join() == i);
    }
  };
  const std::uint64_t before = duet::test::worker_stat(rt, &duet::WorkerStats::inline_joins);
  constexpr int rounds = 200;
  for (StackStrategy parent : duet::test::all_strategies) {
    for (StackStrategy s : duet::test::all_strategies) {
      INFO("parent " << duet::test::strategy_name(parent) << ", child "
                     << duet::test::strategy_name(s));
      int done = rt.spawn(duet::stackful({.strategy = parent}), [&] {
                     int n = 0;
                     for (int i = 0; i < rounds; ++i, ++n) {
                       check(i, [&] { return child(s, i).join(); });
                     }
                     return n;
                   }).join();
      CHECK(done == rounds);
      auto from_coroutine = [&]() -> duet::Task<int> {
        int n = 0;
        for (int i = 0; i < rounds; ++i, ++n) {
          // co_await outside the assertion macros: GCC 12 evaluates an
          // await in the operand that the macros leave unevaluated.
          auto h = child(s, i);
          int got = -1;
          bool threw = false;
          try {
            got = co_await h;
          } catch (const std::runtime_error&) {
            threw = true;
          }
          CHECK(threw == (i % 5 == 3));
          if (!threw) CHECK(got == i);
        }
        co_return n;
      };
      CHECK(rt.block_on(from_coroutine()) == rounds);
    }
  }
  // The children with stacks of their own were run in their joiners' polls.
  CHECK(duet::test::worker_stat(rt, &duet::WorkerStats::inline_joins) - before >= rounds);
}

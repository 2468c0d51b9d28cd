// A fiber's before_park step (duet/stackful/detail/fiber_task.hpp,
// BeforePark): armed, it runs once on the fiber at the fiber's next wait or
// yield, before the fiber switches out; disarmed, or armed on a function
// without one, it never runs. The wait it interrupted still ends when its
// operation is ready, also when the step itself waited and took the wake-up
// meant for it. Every stack strategy, on one and two workers.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>

#include "duet/duet.hpp"
#include "fiber_test_util.hpp"
#include "test_util.hpp"

using duet::StackStrategy;
using duet::test::Gate;

namespace before_park_test {

/// What a fiber saw: how often its step ran, and in which order things
/// happened (1: the step, 2: after the interrupted wait).
struct Steps {
  std::atomic<int> steps{0};
  std::atomic<int> step_order{0};
  std::atomic<int> wait_order{0};
  std::atomic<int> clock{0};
  std::atomic<bool> in_step{false};
  std::atomic<bool> step_on_fiber{false};
};

/// A fiber's function whose step counts itself and, when `inner` is set,
/// waits on it.
template <class Body>
struct Stepping {
  Steps* seen;
  Gate* inner;
  Body body;
  decltype(auto) operator()() { return body(); }
  void before_park() {
    seen->steps.fetch_add(1);
    seen->step_order.store(seen->clock.fetch_add(1) + 1);
    seen->step_on_fiber.store(duet::this_fiber::is_fiber());
    seen->in_step.store(true);
    if (inner != nullptr) duet::wait(inner->wait());
  }
};

template <class Body>
Stepping<Body> stepping(Steps& seen, Gate* inner, Body body) {
  return Stepping<Body>{&seen, inner, std::move(body)};
}

void spin_until(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::yield();
}

}  // namespace before_park_test

using namespace before_park_test;  // NOLINT: this file's own helpers

TEST_CASE("an armed before_park step runs once at the fiber's next wait",
          "[stackful][before_park]") {
  duet::test::Watchdog wd("before_park once");
  for (unsigned workers : {1u, 2u}) {
    duet::Runtime rt(duet::test::cpu_only_config(workers));
    for (StackStrategy s : duet::test::all_strategies) {
      INFO(duet::test::strategy_name(s) << " on " << workers << " workers");
      Steps seen;
      Gate outer;
      Gate later;
      auto h = rt.spawn(duet::stackful({.strategy = s}), stepping(seen, nullptr, [&] {
                          {
                            const duet::detail::ArmedBeforePark armed(true);
                            duet::wait(outer.wait());
                            seen.wait_order.store(seen.clock.fetch_add(1) + 1);
                          }
                          duet::wait(later.wait());  // after a run step: nothing more
                        }));
      spin_until(seen.in_step);
      outer.open();
      later.open();
      h.join();
      CHECK(seen.steps.load() == 1);
      CHECK(seen.step_order.load() == 1);
      CHECK(seen.wait_order.load() == 2);
      CHECK(seen.step_on_fiber.load());
    }
  }
}

TEST_CASE("the wait a before_park step interrupted ends though the step took its wake-up",
          "[stackful][before_park]") {
  duet::test::Watchdog wd("before_park lost wake-up");
  for (unsigned workers : {1u, 2u}) {
    duet::Runtime rt(duet::test::cpu_only_config(workers));
    for (StackStrategy s : duet::test::all_strategies) {
      INFO(duet::test::strategy_name(s) << " on " << workers << " workers");
      Steps seen;
      Gate outer;  // the interrupted wait's
      Gate inner;  // the step's own
      auto h = rt.spawn(duet::stackful({.strategy = s}), stepping(seen, &inner, [&] {
                          const duet::detail::ArmedBeforePark armed(true);
                          duet::wait(outer.wait());
                          return 7;
                        }));
      // The outer operation's wake-up arrives while the step waits on its
      // own: the step's wait takes it; the outer wait must poll again.
      spin_until(seen.in_step);
      outer.open();
      inner.open();
      CHECK(h.join() == 7);
      CHECK(seen.steps.load() == 1);
    }
  }
}

TEST_CASE("an armed before_park step runs at a yield", "[stackful][before_park]") {
  duet::test::Watchdog wd("before_park yield");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  for (StackStrategy s : duet::test::all_strategies) {
    INFO(duet::test::strategy_name(s));
    Steps seen;
    auto h = rt.spawn(duet::stackful({.strategy = s}), stepping(seen, nullptr, [&] {
                        const duet::detail::ArmedBeforePark armed(true);
                        duet::this_fiber::yield();
                        return seen.steps.load();
                      }));
    CHECK(h.join() == 1);
  }
}

TEST_CASE("a before_park step disarmed or never armed does not run", "[stackful][before_park]") {
  duet::test::Watchdog wd("before_park disarmed");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  Steps seen;
  Gate g;
  auto h = rt.spawn(duet::stackful, stepping(seen, nullptr, [&] {
                      { const duet::detail::ArmedBeforePark armed(true); }  // no wait in scope
                      { const duet::detail::ArmedBeforePark off(false); }
                      seen.in_step.store(true);
                      duet::wait(g.wait());
                    }));
  spin_until(seen.in_step);
  g.open();
  h.join();
  CHECK(seen.steps.load() == 0);
}

TEST_CASE("arming a before_park step off a fiber or without one is refused",
          "[stackful][before_park]") {
  duet::test::Watchdog wd("before_park refused");
  CHECK_THROWS_AS(duet::detail::arm_before_park(), std::logic_error);
  duet::detail::disarm_before_park();  // nothing off a fiber
  duet::Runtime rt(duet::test::cpu_only_config(1));
  auto h = rt.spawn(duet::stackful, [] {
    try {
      duet::detail::arm_before_park();
    } catch (const std::logic_error&) {
      return true;
    }
    return false;
  });
  CHECK(h.join());
}

TEST_CASE("a fiber cancelled while its before_park step waits unwinds", "[stackful][before_park]") {
  duet::test::Watchdog wd("before_park cancel");
  duet::Runtime rt(duet::test::cpu_only_config(2));
  for (StackStrategy s : duet::test::all_strategies) {
    INFO(duet::test::strategy_name(s));
    Steps seen;
    Gate outer;
    Gate inner;  // never opened
    std::atomic<bool> after{false};
    auto h = rt.spawn(duet::stackful({.strategy = s}), stepping(seen, &inner, [&] {
                        const duet::detail::ArmedBeforePark armed(true);
                        duet::wait(outer.wait());
                        after.store(true);
                      }));
    spin_until(seen.in_step);
    h.cancel();
    CHECK_THROWS_AS(h.join(), duet::Cancelled);
    CHECK_FALSE(after.load());
  }
}

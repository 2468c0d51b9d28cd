// The floating-point control state and fibers (stackful/src/switch.hpp):
// every switch saves and restores MXCSR and the x87 control word, so a
// fiber that sets a rounding mode keeps it to itself across yields, parks
// and hand-offs; and a new fiber starts with its thread's words as read at
// the thread's first fiber, not with those of whichever context was
// running when it started (a fiber that started from inside a fiber in
// upward rounding started in upward rounding with Boost's make_fcontext).
#include <catch2/catch.hpp>

#include <cfenv>

#include "duet/duet.hpp"
#include "fiber_test_util.hpp"
#include "test_util.hpp"

using duet::StackStrategy;

namespace {

struct Seen {
  int child_at_start = -1;  // the child's mode at its first instruction
  int parent_after_join = -1;
  int parent_after_yields = -1;
};

}  // namespace

TEST_CASE("a fiber keeps its rounding mode to itself and new fibers start with the thread's",
          "[stackful][fp_env]") {
  duet::test::Watchdog wd("fp env");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  for (StackStrategy s : duet::test::all_strategies) {
    INFO(duet::test::strategy_name(s));
    // Make the worker's first fiber context while it rounds to nearest.
    rt.spawn(duet::stackful({.strategy = s}), [] {}).join();
    auto parent = rt.spawn(duet::stackful({.strategy = s}), [&rt, s] {
      Seen seen;
      std::fesetround(FE_UPWARD);
      auto child = rt.spawn(duet::stackful({.strategy = s}), [] { return std::fegetround(); });
      seen.child_at_start = duet::wait(std::move(child));
      seen.parent_after_join = std::fegetround();
      for (int i = 0; i < 3; ++i) duet::this_fiber::yield();
      seen.parent_after_yields = std::fegetround();
      return seen;  // ends in upward rounding: the switch out restores the worker's
    });
    // A fiber that runs beside the parent, yielding in turn with it.
    auto sibling = rt.spawn(duet::stackful({.strategy = s}), [] {
      int mode = std::fegetround();
      for (int i = 0; i < 3 && mode == FE_TONEAREST; ++i) {
        duet::this_fiber::yield();
        mode = std::fegetround();
      }
      return mode;
    });
    const Seen seen = parent.join();
    CHECK(seen.child_at_start == FE_TONEAREST);
    CHECK(seen.parent_after_join == FE_UPWARD);
    CHECK(seen.parent_after_yields == FE_UPWARD);
    CHECK(sibling.join() == FE_TONEAREST);
    // The worker itself, after both: a stackless task runs on its context.
    auto after = rt.spawn([]() -> duet::Task<int> { co_return std::fegetround(); }());
    CHECK(after.join() == FE_TONEAREST);
  }
  CHECK(std::fegetround() == FE_TONEAREST);
}

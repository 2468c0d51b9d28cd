// switch_pairing_test.cpp: the switch protocol's entry-by-exit table
// (stackful/src/switch.hpp) is enforced in builds with
// DUET_CHECK_TRANSITIONS: a fiber whose recorded return path is not the one
// its entry wrote, or that leaves by an exit its entry does not pair with,
// aborts and names the pair. A wrong pair would otherwise only mispredict
// returns, which no functional test sees. Each case runs in a forked child
// and corrupts the fiber's recorded path by hand. (Every right pair is
// taken, under the same check, by loop_entry_test.cpp's children joined in
// place and the hand-off tests.)
#include <signal.h>
#include <catch2/catch.hpp>

#include <string>

#include "duet/detail/current.hpp"
#include "duet/duet.hpp"
#include "fiber_test_util.hpp"
#include "test_util.hpp"

namespace {

using duet::detail::FiberBase;
using duet::detail::ReturnPath;

/// The running fiber's switch state (fiber.hpp).
FiberBase& this_fiber_base() {
  return *static_cast<FiberBase*>(duet::detail::current_task());
}

/// Spawns `body` on a fiber of a one-worker runtime and joins it from this
/// thread, so that the worker loop enters it (path jmp).
template <class Fn>
void run_fiber_from_loop(Fn body) {
  duet::RuntimeConfig cfg;
  cfg.workers = 1;
  cfg.placement = duet::Placement::none;
  duet::Runtime rt(cfg);
  rt.spawn(duet::stackful, body).join();
}

bool table_checked() {
#if DUET_CHECK_TRANSITIONS && defined(__x86_64__) && defined(__ELF__)
  return true;
#else
  return false;
#endif
}

}  // namespace

TEST_CASE("a fiber entered by the loop that finishes by the caller's ret exit is caught",
          "[stackful][switch][death]") {
  if (!table_checked()) {
    DUET_SKIP("the pairing check needs DUET_CHECK_TRANSITIONS and the x86-64 switch routines");
  }
  auto r = duet::test::run_in_child(
      [] { run_fiber_from_loop([] { this_fiber_base().path = ReturnPath::ret_owed; }); });
  INFO(r.err);
  REQUIRE(r.signaled);
  REQUIRE(r.signal == SIGABRT);
  REQUIRE(r.err.find("duet: fiber switch pairing: the fiber's path is ret_owed, the side "
                     "entered it on jmp, and it leaves by exit_to_caller") != std::string::npos);
}

TEST_CASE("a fiber entered by the loop that parks by a call's ret exit is caught",
          "[stackful][switch][death]") {
  if (!table_checked()) {
    DUET_SKIP("the pairing check needs DUET_CHECK_TRANSITIONS and the x86-64 switch routines");
  }
  auto r = duet::test::run_in_child([] {
    run_fiber_from_loop([] {
      this_fiber_base().path = ReturnPath::ret;
      duet::test::Gate never;
      duet::wait(never.wait());  // parks: nothing else runs, so back to the loop
    });
  });
  INFO(r.err);
  REQUIRE(r.signaled);
  REQUIRE(r.signal == SIGABRT);
  REQUIRE(r.err.find("duet: fiber switch pairing: the fiber's path is ret, the side entered "
                     "it on jmp, and it leaves by jump_to") != std::string::npos);
}

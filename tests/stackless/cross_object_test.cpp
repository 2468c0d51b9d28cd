// Coroutines compiled into another shared object (a user's library of
// Tasks) run inside the tasks the program spawns: the coroutine run state
// is one variable per thread for the whole process
// (duet/detail/coro_thread.hpp), so the library's awaiters read the run
// the program's task loop set.
#include <catch2/catch.hpp>

#include <duet/duet.hpp>

#include "coro_library/coro_library.hpp"
#include "test_util.hpp"

namespace {

duet::Task<long> program_side(int n) {
  // The program's coroutine awaits the library's, which awaits its own.
  const long from_library = co_await coro_library::sum_with_yields(n);
  co_await duet::yield_now();
  co_return from_library + 1;
}

}  // namespace

TEST_CASE("a Task from another shared object runs in the tasks the program spawns",
          "[task][shared_object]") {
  duet::test::Watchdog wd("cross object");
  CHECK(coro_library::run_state_address() == &duet::detail::coro_thread());
  duet::Runtime rt({.workers = 2});
  SECTION("spawned directly") {
    CHECK(rt.spawn(coro_library::sum_with_yields(10)).join() == 45);
  }
  SECTION("awaited by the program's coroutine") {
    CHECK(rt.spawn(program_side(10)).join() == 46);
  }
  SECTION("many at once, across workers") {
    std::vector<duet::JoinHandle<long>> hs;
    for (int i = 0; i < 64; ++i) hs.push_back(rt.spawn(coro_library::sum_with_yields(i)));
    for (int i = 0; i < 64; ++i) CHECK(hs[i].join() == static_cast<long>(i) * (i - 1) / 2);
  }
}

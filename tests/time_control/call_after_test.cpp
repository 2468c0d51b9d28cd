// call_after_test.cpp: duet::call_after / call_at on a manual test clock:
// the callback runs once, on a worker, with the clock at its deadline;
// cancel() before it prevents it (true), after it reports false; what a
// callback throws reaches join() or on_detached_exception.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"
#include "time_control_util.hpp"

using namespace std::chrono_literals;

TEST_CASE("call_after runs the callback once on a worker at its deadline") {
  duet::test::Watchdog wd("call_after runs");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual, 2));
  const duet::Instant t0 = duet::Clock::now();
  std::atomic<int> runs{0};
  std::atomic<bool> on_worker{false};
  std::atomic<std::int64_t> at_ns{0};
  auto t = duet::call_after(rt, 10ms, [&] {
    on_worker.store(duet::Runtime::current() == &rt);
    at_ns.store((duet::Clock::now() - t0).count());
    runs.fetch_add(1);
  });
  rt.advance(9ms);
  CHECK(runs.load() == 0);
  CHECK_FALSE(t.is_finished());
  rt.advance(1ms);
  t.join();
  CHECK(runs.load() == 1);
  CHECK(on_worker.load());
  CHECK(duet::test::at_deadline(std::chrono::nanoseconds(at_ns.load()), 10ms));
  CHECK_FALSE(t.cancel());  // joined: nothing to cancel
  rt.advance(1s);
  CHECK(runs.load() == 1);
}

TEST_CASE("call_after cancelled before its deadline never runs") {
  duet::test::Watchdog wd("call_after cancel");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual));
  std::atomic<int> runs{0};
  auto t = duet::call_after(rt, 10ms, [&] { runs.fetch_add(1); });
  rt.advance(5ms);
  CHECK(t.cancel());
  CHECK_FALSE(t.cancel());  // a second cancel did not come first
  rt.advance(1s);
  CHECK(runs.load() == 0);
  CHECK_THROWS_AS(t.join(), duet::Cancelled);
}

TEST_CASE("call_after cancelled after it ran reports false") {
  duet::test::Watchdog wd("call_after late cancel");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual));
  std::atomic<int> runs{0};
  auto t = duet::call_at(rt, duet::Clock::now() + 1ms, [&] { runs.fetch_add(1); });
  rt.advance(1ms);
  CHECK(runs.load() == 1);
  CHECK_FALSE(t.cancel());
  t.join();
}

TEST_CASE("call_after callback that throws: join rethrows, a detached one is reported") {
  duet::test::Watchdog wd("call_after throws");
  std::atomic<int> reported{0};
  auto cfg = duet::test::clocked(duet::ClockMode::manual);
  cfg.on_detached_exception = [&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::runtime_error&) {
      reported.fetch_add(1);
    }
  };
  duet::Runtime rt(cfg);
  auto joined = duet::call_after(rt, 1ms, [] { throw std::runtime_error("callback failed"); });
  duet::call_after(rt, 2ms, [] { throw std::runtime_error("nobody joins"); }).detach();
  rt.advance(2ms);
  CHECK_THROWS_WITH(joined.join(), "callback failed");
  CHECK(reported.load() == 1);
}

TEST_CASE("call_after on the real clock") {
  duet::test::Watchdog wd("call_after real clock");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
  const duet::Instant start = duet::Clock::now();
  std::atomic<bool> ran{false};
  auto t = duet::call_after(rt, 2ms, [&] { ran.store(duet::Clock::now() - start >= 2ms); });
  t.join();
  CHECK(ran.load());
}

namespace {
duet::Task<duet::TimerHandle> arm_from_coroutine(std::atomic<int>& runs, duet::Runtime* expect,
                                                 std::atomic<bool>& on_rt) {
  co_return duet::call_after(10ms, [&runs, expect, &on_rt] {
    on_rt.store(duet::Runtime::current() == expect);
    runs.fetch_add(1);
  });
}
}  // namespace

TEST_CASE("call_after without a Runtime uses the caller's, from a coroutine and a fiber") {
  duet::test::Watchdog wd("call_after caller's runtime");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual, 2));
  std::atomic<int> runs{0};
  std::atomic<bool> on_rt{false};
  duet::TimerHandle from_coro = rt.spawn(arm_from_coroutine(runs, &rt, on_rt)).join();
  duet::TimerHandle from_fiber =
      rt.spawn(duet::stackful, [&] {
          return duet::call_at(duet::Clock::now() + 10ms, [&] { runs.fetch_add(1); });
        }).join();
  CHECK(from_coro.valid());
  CHECK(from_fiber.valid());
  rt.advance(9ms);
  CHECK(runs.load() == 0);
  rt.advance(1ms);
  from_coro.join();
  from_fiber.join();
  CHECK(runs.load() == 2);
  CHECK(on_rt.load());
}

TEST_CASE("call_after without a Runtime off every worker throws std::logic_error") {
  std::atomic<int> runs{0};
  CHECK_THROWS_AS(duet::call_after(1ms, [&] { runs.fetch_add(1); }), std::logic_error);
  CHECK_THROWS_AS(duet::call_at(duet::Clock::now(), [&] { runs.fetch_add(1); }), std::logic_error);
  CHECK(runs.load() == 0);
}

TEST_CASE("TimerHandle: an empty handle holds no timer, and takes one by assignment") {
  duet::test::Watchdog wd("TimerHandle empty");
  duet::TimerHandle t;
  CHECK_FALSE(t.valid());
  CHECK_FALSE(t.cancel());
  CHECK_FALSE(t.is_finished());
  t.detach();  // nothing to detach: no effect
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual));
  std::atomic<int> runs{0};
  t = duet::call_after(rt, 5ms, [&] { runs.fetch_add(1); });
  CHECK(t.valid());
  CHECK(t.cancel());
  rt.advance(1s);
  CHECK(runs.load() == 0);
  CHECK(t.valid());  // cancelled, not yet joined
  CHECK_THROWS_AS(t.join(), duet::Cancelled);
  CHECK_FALSE(t.valid());
  t = duet::TimerHandle();  // emptied again by assignment
  CHECK_FALSE(t.cancel());
}

namespace {
duet::Task<duet::TimerHandle> arm_huge_from_coroutine(std::atomic<int>& runs) {
  co_return duet::call_after(std::chrono::hours::max(), [&runs] { runs.fetch_add(1); });
}
}  // namespace

// Issue 72: now + d overflowed, and a huge delay ran the callback at once.
TEST_CASE("call_after with a huge delay never runs, armed from a coroutine and a fiber") {
  duet::test::Watchdog wd("call_after huge");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused, 2));
  std::atomic<int> runs{0};
  auto count = [&runs] { runs.fetch_add(1); };
  std::vector<duet::TimerHandle> huge;
  huge.push_back(duet::call_after(rt, std::chrono::nanoseconds::max(), count));
  huge.push_back(duet::call_after(rt, std::chrono::seconds::max(), count));
  huge.push_back(duet::call_after(rt, std::chrono::hours::max(), count));
  huge.push_back(duet::call_at(rt, duet::Instant::max(), count));
  huge.push_back(rt.spawn(arm_huge_from_coroutine(runs)).join());
  huge.push_back(rt.spawn(duet::stackful, [&runs] {
                     return duet::call_after(std::chrono::seconds::max(),
                                             [&runs] { runs.fetch_add(1); });
                   }).join());
  // The paused clock moves to the one deadline that is not "never", past
  // none of the others.
  std::atomic<int> near{0};
  duet::call_after(rt, 10ms, [&near] { near.fetch_add(1); }).join();
  CHECK(near.load() == 1);
  CHECK(runs.load() == 0);
  for (auto& t : huge) {
    CHECK_FALSE(t.is_finished());
    CHECK(t.cancel());
    CHECK_THROWS_AS(t.join(), duet::Cancelled);
  }
  CHECK(runs.load() == 0);
}

// interval_test.cpp: duet::interval's schedule and its three missed-tick
// policies, on a paused test clock (exact instants, no real waiting), from
// a coroutine, a fiber and as a spawned poll future; a period of zero.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <utility>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"
#include "time_control_util.hpp"

using namespace std::chrono_literals;
using duet::MissedTickBehavior;

namespace {

// A multiple of the wheel's 1024 ns tick, as are its halves: every instant
// below is a tick boundary, so the clock lands on it exactly.
constexpr duet::Clock::duration P = 1024us;

using Marks = std::vector<std::pair<duet::Clock::duration, duet::Clock::duration>>;

// Ticks once, stays busy for 3.5 periods (two whole ticks missed), then
// ticks `n` more times; each mark is (scheduled instant, clock when taken),
// both from the start.
duet::Task<Marks> coro_ticks(MissedTickBehavior b, int n) {
  const duet::Instant t0 = duet::Clock::now();
  auto iv = duet::interval_at(t0, P, b);
  Marks m;
  duet::Instant at = co_await iv.tick();
  m.emplace_back(at - t0, duet::Clock::now() - t0);
  co_await duet::sleep(3 * P + P / 2);
  for (int i = 0; i < n; ++i) {
    at = co_await iv.tick();
    m.emplace_back(at - t0, duet::Clock::now() - t0);
  }
  co_return m;
}

Marks fiber_ticks(MissedTickBehavior b, int n) {
  const duet::Instant t0 = duet::Clock::now();
  auto iv = duet::interval_at(t0, P, b);
  Marks m;
  duet::Instant at = duet::wait(iv.tick());
  m.emplace_back(at - t0, duet::Clock::now() - t0);
  duet::wait(duet::sleep(3 * P + P / 2));
  for (int i = 0; i < n; ++i) {
    at = duet::wait(iv.tick());
    m.emplace_back(at - t0, duet::Clock::now() - t0);
  }
  return m;
}

Marks expected(MissedTickBehavior b) {
  const auto h = P / 2;
  switch (b) {
    case MissedTickBehavior::burst:  // the schedule stays: 1P, 2P, 3P at once, then on time
      return {{0 * P, 0 * P}, {P, 7 * h},     {2 * P, 7 * h},
              {3 * P, 7 * h}, {4 * P, 4 * P}, {5 * P, 5 * P}};
    case MissedTickBehavior::delay:  // restarts one period after 3.5P
      return {{0 * P, 0 * P},   {P, 7 * h},       {9 * h, 9 * h},
              {11 * h, 11 * h}, {13 * h, 13 * h}, {15 * h, 15 * h}};
    case MissedTickBehavior::skip:  // the next instant of the old schedule after 3.5P
      return {{0 * P, 0 * P}, {P, 7 * h},     {4 * P, 4 * P},
              {5 * P, 5 * P}, {6 * P, 6 * P}, {7 * P, 7 * P}};
  }
  return {};
}

void check_policy(MissedTickBehavior b) {
  duet::test::Watchdog wd("interval policy");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  const auto real0 = std::chrono::steady_clock::now();
  CHECK(rt.block_on(coro_ticks(b, 5)) == expected(b));
  CHECK(rt.block_on(duet::stackful, [b] { return fiber_ticks(b, 5); }) == expected(b));
  // Paused: no real waiting (a guard, not a timing).
  CHECK(std::chrono::steady_clock::now() - real0 < 60s);
}

}  // namespace

TEST_CASE("interval burst catches up on missed ticks at once") {
  check_policy(MissedTickBehavior::burst);
}

TEST_CASE("interval delay restarts the schedule after a missed tick") {
  check_policy(MissedTickBehavior::delay);
}

TEST_CASE("interval skip drops missed ticks and keeps the phase") {
  check_policy(MissedTickBehavior::skip);
}

TEST_CASE("interval late by less than a period keeps its schedule under every policy") {
  duet::test::Watchdog wd("interval slightly late");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  for (auto b : {MissedTickBehavior::burst, MissedTickBehavior::delay, MissedTickBehavior::skip}) {
    Marks m = rt.block_on([](MissedTickBehavior b) -> duet::Task<Marks> {
      const duet::Instant t0 = duet::Clock::now();
      auto iv = duet::interval_at(t0, P, b);
      Marks m;
      co_await iv.tick();
      co_await duet::sleep(P + P / 2);  // the tick at 1P is taken at 1.5P
      for (int i = 0; i < 2; ++i) {
        duet::Instant at = co_await iv.tick();
        m.emplace_back(at - t0, duet::Clock::now() - t0);
      }
      co_return m;
    }(b));
    CHECK(m == Marks{{P, P + P / 2}, {2 * P, 2 * P}});
  }
}

TEST_CASE("interval tick is a poll future that rt.spawn runs") {
  duet::test::Watchdog wd("interval spawned tick");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  const duet::Instant t0 = duet::Clock::now();
  auto iv = duet::interval(P);  // the first tick is at once
  CHECK(rt.spawn(iv.tick()).join() == t0);
  CHECK(rt.spawn(iv.tick()).join() == t0 + P);
  CHECK(duet::Clock::now() == t0 + P);
  iv.reset();  // the next tick one period from now
  CHECK(rt.spawn(iv.tick()).join() == t0 + 2 * P);
}

TEST_CASE("interval of zero or a negative period is rejected") {
  CHECK_THROWS_AS(duet::interval(0ms), std::invalid_argument);
  CHECK_THROWS_AS(duet::interval(-1ms), std::invalid_argument);
  CHECK_THROWS_AS(duet::interval_at(duet::Clock::now(), 0ns, MissedTickBehavior::skip),
                  std::invalid_argument);
  CHECK_THROWS_WITH(duet::interval(0s), Catch::Contains("period must be positive"));
}

TEST_CASE("interval on the real clock ticks in order") {
  duet::test::Watchdog wd("interval real clock");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
  auto ats = rt.block_on([]() -> duet::Task<std::vector<duet::Instant>> {
    auto iv = duet::interval(1ms);
    std::vector<duet::Instant> v;
    for (int i = 0; i < 3; ++i) v.push_back(co_await iv.tick());
    co_return v;
  }());
  REQUIRE(ats.size() == 3);
  CHECK(ats[1] - ats[0] == 1ms);
  CHECK(ats[2] - ats[1] == 1ms);
  CHECK(duet::Clock::now() >= ats[2]);
}

namespace {

/// The first tick, then whether a second one is ready under a deadline
/// already past.
duet::Task<bool> huge_period_second_tick(duet::Interval& iv) {
  (void)co_await iv.tick();
  auto second = co_await duet::timeout(0ns, iv.tick());
  co_return second.has_value();
}

}  // namespace

// Issue 72: the period's conversion to nanoseconds and due + period both
// overflowed.
TEST_CASE("interval with a huge period ticks once, then never, in both models") {
  duet::test::Watchdog wd("interval huge");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  auto coro = duet::interval(std::chrono::hours::max());
  CHECK(coro.period() == duet::Clock::duration::max());
  CHECK_FALSE(rt.block_on(huge_period_second_tick(coro)));
  auto fiber = duet::interval(std::chrono::nanoseconds::max());
  CHECK_FALSE(rt.block_on(duet::stackful, [&fiber] {
    (void)duet::wait(fiber.tick());
    return duet::wait(duet::timeout(0ns, fiber.tick())).has_value();
  }));
}

// test_clock_test.cpp: the paused and manual test clocks (RuntimeConfig::
// clock): sleeps and timeouts fire in deadline order on Runtime::advance,
// with the clock at each deadline; auto-advance when every task waits on a
// timer (an hour's sleep completes at once), from coroutines, fibers and a
// plain thread; each runtime its own clock, beside others with test clocks
// or a real one; the clock's misuses.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"
#include "time_control_util.hpp"

using namespace std::chrono_literals;
using duet::test::at_deadline;
using duet::test::EventLog;

namespace {

duet::Task<void> coro_sleeper(EventLog& log, int id, duet::Clock::duration d) {
  co_await duet::sleep(d);
  log.note(id);
}

duet::Task<void> coro_timeout(EventLog& log, int id, duet::Clock::duration d) {
  auto ch = duet::Channel<int>::bounded(1);  // never sent to: the timeout wins
  auto r = co_await duet::timeout(d, ch.recv());
  if (!r) log.note(id);
}

void fiber_sleeper(EventLog& log, int id, duet::Clock::duration d) {
  duet::wait(duet::sleep(d));
  log.note(id);
}

void fiber_timeout(EventLog& log, int id, duet::Clock::duration d) {
  auto ch = duet::Channel<int>::bounded(1);
  if (!duet::wait(duet::timeout(d, ch.recv()))) log.note(id);
}

std::vector<int> ids(const std::vector<std::pair<int, duet::Clock::duration>>& v) {
  std::vector<int> out;
  for (const auto& e : v) out.push_back(e.first);
  return out;
}

void check_times(const std::vector<std::pair<int, duet::Clock::duration>>& v,
                 const std::vector<duet::Clock::duration>& want) {
  REQUIRE(v.size() == want.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    INFO("event " << i << ": " << v[i].second.count() << " ns");
    CHECK(at_deadline(v[i].second, want[i]));
  }
}

}  // namespace

TEST_CASE("manual clock fires sleeps and timeouts in deadline order on advance") {
  duet::test::Watchdog wd("manual advance");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual, 2));
  const duet::Instant t0 = duet::Clock::now();
  EventLog log(t0);
  std::vector<duet::JoinHandle<void>> hs;
  hs.push_back(rt.spawn(coro_sleeper(log, 1, 30ms)));
  hs.push_back(rt.spawn(duet::stackful, [&log] { fiber_sleeper(log, 2, 10ms); }));
  hs.push_back(rt.spawn(coro_timeout(log, 3, 20ms)));
  hs.push_back(rt.spawn(duet::stackful, [&log] { fiber_timeout(log, 4, 15ms); }));
  hs.push_back(rt.spawn(coro_sleeper(log, 5, 40ms)));
  hs.push_back(rt.spawn(duet::stackful, [&log] { fiber_sleeper(log, 6, 40ms + 1us); }));

  rt.advance(25ms);
  auto first = log.take();
  CHECK(ids(first) == std::vector<int>{2, 4, 3});
  check_times(first, {10ms, 15ms, 20ms});
  CHECK(duet::Clock::now() - t0 == 25ms);  // the clock lands on the target

  rt.advance(0ns);  // nothing due: nothing fires, the clock stays
  CHECK(log.take().empty());
  CHECK(duet::Clock::now() - t0 == 25ms);

  rt.advance(1s);
  auto second = log.take();
  CHECK(ids(second) == std::vector<int>{1, 5, 6});
  check_times(second, {30ms, 40ms, 40ms + 1us});
  CHECK(duet::Clock::now() - t0 == 1025ms);
  for (auto& h : hs) h.join();
}

TEST_CASE("manual clock does not move by itself") {
  duet::test::Watchdog wd("manual clock still");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual));
  const duet::Instant t0 = duet::Clock::now();
  auto h = rt.spawn(duet::sleep(1ms));
  // Work runs to completion meanwhile; the clock stays where it was.
  rt.block_on([]() -> duet::Task<void> {
    for (int i = 0; i < 100; ++i) co_await duet::yield_now();
  }());
  CHECK(duet::Clock::now() == t0);
  CHECK_FALSE(h.is_finished());
  rt.advance(1ms);
  h.join();
  // 1 ms is not a whole number of 1024 ns ticks: the timer's rounded
  // deadline lies past the target, and the clock lands on it.
  CHECK(at_deadline(duet::Clock::now() - t0, 1ms));
}

TEST_CASE("paused clock auto-advances: an hour's sleep completes at once") {
  duet::test::Watchdog wd("auto-advance hour");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  const auto real0 = std::chrono::steady_clock::now();
  const duet::Instant t0 = duet::Clock::now();
  rt.block_on([]() -> duet::Task<void> { co_await duet::sleep(1h); }());
  CHECK(at_deadline(duet::Clock::now() - t0, 1h));
  rt.block_on(duet::stackful, [] { duet::wait(duet::sleep(1h)); });
  CHECK(at_deadline(duet::Clock::now() - t0, 2h));
  auto r = rt.block_on([]() -> duet::Task<duet::Result<std::optional<int>>> {
    auto ch = duet::Channel<int>::bounded(1);
    co_return co_await duet::timeout(24h, ch.recv());
  }());
  REQUIRE_FALSE(r.has_value());
  CHECK(duet::is_elapsed(r.error()));
  CHECK(at_deadline(duet::Clock::now() - t0, 26h));
  CHECK(std::chrono::steady_clock::now() - real0 < 60s);  // a guard, not a timing
}

TEST_CASE("paused clock auto-advances through timers of many tasks in deadline order") {
  duet::test::Watchdog wd("auto-advance order");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused, 2));
  const duet::Instant t0 = duet::Clock::now();
  EventLog log(t0);
  // Spawned from one root task: while it runs a worker is busy, so the
  // clock cannot jump before every child has registered its timer (from
  // the test's thread, each spawn could find the workers idle).
  rt.block_on([](EventLog& log) -> duet::Task<void> {
    std::vector<duet::JoinHandle<void>> hs;
    hs.push_back(duet::spawn(coro_sleeper(log, 3, 3h)));
    hs.push_back(duet::spawn(duet::stackful, [&log] { fiber_sleeper(log, 1, 1h); }));
    hs.push_back(duet::spawn(coro_timeout(log, 2, 2h)));
    hs.push_back(duet::spawn(duet::stackful, [&log] { fiber_timeout(log, 4, 4h); }));
    for (auto& h : hs) co_await h;
  }(log));
  auto v = log.take();
  CHECK(ids(v) == std::vector<int>{1, 2, 3, 4});
  check_times(v, {1h, 2h, 3h, 4h});
}

TEST_CASE("paused clock auto-advances a plain thread's sleep") {
  duet::test::Watchdog wd("auto-advance plain thread");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  const duet::Instant t0 = duet::Clock::now();
  duet::wait(duet::sleep(1h));  // this thread is off the runtime
  CHECK(at_deadline(duet::Clock::now() - t0, 1h));
}

TEST_CASE("manual advance wakes a plain thread's sleep") {
  duet::test::Watchdog wd("manual plain thread");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual));
  const duet::Instant t0 = duet::Clock::now();
  std::atomic<bool> done{false};
  std::thread th([&] {
    duet::wait(duet::sleep_until(t0 + 10ms));
    done.store(true);
  });
  // The thread's timer may not be registered yet: advance until it fires.
  while (!done.load()) rt.advance(10ms);
  th.join();
  CHECK(duet::Clock::now() - t0 >= 10ms);
}

TEST_CASE("test clock misuse is a clear error") {
  SECTION("advance on a real clock") {
    duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
    CHECK_THROWS_AS(rt.advance(1ms), std::logic_error);
  }
  SECTION("more live test clocks than the process holds") {
    std::vector<std::unique_ptr<duet::Runtime>> live;
    auto cfg = duet::test::clocked(duet::ClockMode::manual);
    cfg.io_driver = duet::IoDriver::none;  // no ring each
    cfg.placement = duet::Placement::none;
    for (int i = 0; i < 64; ++i) live.push_back(std::make_unique<duet::Runtime>(cfg));
    CHECK_THROWS_AS(duet::Runtime(cfg), std::logic_error);
    live.pop_back();  // a slot given back is taken again
    CHECK_NOTHROW(live.push_back(std::make_unique<duet::Runtime>(cfg)));
  }
  SECTION("a negative advance") {
    duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual));
    CHECK_THROWS_AS(rt.advance(-1ms), std::invalid_argument);
  }
  SECTION("advance from the runtime's own worker") {
    duet::test::Watchdog wd("advance on a worker");
    duet::Runtime rt(duet::test::clocked(duet::ClockMode::manual));
    rt.block_on(duet::stackful, [&rt] { CHECK_THROWS_AS(rt.advance(1ms), std::logic_error); });
  }
  SECTION("the clock is real again once the runtime is gone") {
    std::optional<duet::Runtime> rt(std::in_place, duet::test::clocked(duet::ClockMode::manual));
    rt->advance(1h);
    rt.reset();
    const auto a = duet::Clock::now();
    const auto b = std::chrono::steady_clock::now();
    CHECK(a <= b);
    CHECK(b - a < 1h);
  }
}

namespace {

duet::Task<duet::Instant> coro_now() {
  co_return duet::Clock::now();
}

duet::Task<duet::Clock::duration> coro_slept(duet::Clock::duration d) {
  const duet::Instant t0 = duet::Clock::now();
  co_await duet::sleep(d);
  co_return duet::Clock::now() - t0;
}

}  // namespace

TEST_CASE("test clocks: two runtimes each move their own") {
  duet::test::Watchdog wd("two test clocks");
  duet::Runtime a(duet::test::clocked(duet::ClockMode::manual));
  duet::Runtime b(duet::test::clocked(duet::ClockMode::manual));
  const duet::Instant a0 = a.now();
  const duet::Instant b0 = b.now();
  a.advance(1h);
  b.advance(2s);
  CHECK(a.now() - a0 >= 1h);
  CHECK(b.now() - b0 >= 2s);
  CHECK(b.now() - b0 < 1h);
  // On each runtime's workers, Clock::now() reads that runtime's clock.
  CHECK(a.block_on(coro_now()) == a.now());
  CHECK(b.block_on(duet::stackful, [] { return duet::Clock::now(); }) == b.now());
  // A thread off both reads real time: neither is the only test clock.
  const auto real0 = std::chrono::steady_clock::now();
  const duet::Instant off = duet::Clock::now();
  CHECK(off >= real0);
  CHECK(off - real0 < 1h);
  // Each one's timers fire on its own advance only.
  std::atomic<bool> fired{false};
  auto h = b.spawn([](std::atomic<bool>& f) -> duet::Task<void> {
    co_await duet::sleep(10s);
    f.store(true);
  }(fired));
  a.advance(1h);
  CHECK_FALSE(fired.load());
  while (!fired.load()) b.advance(10s);  // until the sleeper has registered and fired
  h.join();
  CHECK(b.now() - b0 < 1h);
}

TEST_CASE("test clocks: a paused runtime beside a real one") {
  duet::test::Watchdog wd("paused beside real");
  const auto r0 = std::chrono::steady_clock::now();  // the paused clock starts at or after it
  duet::Runtime paused(duet::test::clocked(duet::ClockMode::paused));
  duet::Runtime real(duet::RuntimeConfig{.workers = 1});
  // An hour on the paused runtime ends at once, on its clock.
  CHECK(paused.block_on(coro_slept(1h)) >= 1h);
  CHECK(std::chrono::steady_clock::now() - r0 < 1h);
  // The real runtime's workers read real time, and sleep in it.
  const auto slept = real.block_on(duet::stackful, [] {
    const auto s0 = std::chrono::steady_clock::now();
    const duet::Instant c0 = duet::Clock::now();
    duet::wait(duet::sleep(5ms));
    const auto by_steady = std::chrono::steady_clock::now() - s0;
    return std::pair{duet::Clock::now() - c0, by_steady};
  });
  CHECK(slept.first >= 5ms);
  CHECK(slept.second >= 5ms);
  const auto before = std::chrono::steady_clock::now();
  const duet::Instant real_now = real.now();
  CHECK(real_now >= before);
  CHECK(real_now - before < 1s);
  // Off both, the paused clock is the only test clock: a plain thread reads it.
  CHECK(duet::Clock::now() == paused.now());
  CHECK(paused.now() - r0 >= 1h);
}

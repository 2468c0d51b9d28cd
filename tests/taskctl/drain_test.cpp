// Runtime::drain (docs/drain.md): it cancels the runtime's shutdown token
// and every pending call_after; spawns from outside are refused once it
// begins, while tasks in flight still spawn and join children; tasks
// that finish before the deadline are not cancelled, stuck tasks of each
// kind are cancelled at the deadline and reported with their kind, what
// they run (a root coroutine, a future type, a fiber's function) and a
// fiber's spawn site, a second drain and a drain on one of the runtime's
// own workers are clear errors.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using Kind = duet::CancelledTask::Kind;

duet::Task<int> wait_notified(duet::Notify& n, std::atomic<int>& parked) {
  co_await duet::test::note_pending(n.notified(), &parked);
  co_return 1;
}

struct Ready {
  duet::Poll<int> poll(duet::Context&) { return 0; }
};

/// Spins (yielding the thread) until a spawn from this plain thread is
/// refused: the drain running on another thread has begun.
void wait_until_refusing(duet::Runtime& rt) {
  for (;;) {
    try {
      rt.spawn(Ready{}).join();
    } catch (const duet::SpawnRefused&) {
      return;
    }
    std::this_thread::yield();
  }
}

std::size_t count_kind(const duet::DrainReport& r, Kind k) {
  std::size_t n = 0;
  for (const auto& c : r.cancelled) n += c.kind == k ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("drain cancels a coroutine and a fiber parked forever at its deadline and reports them") {
  duet::test::Watchdog dog("drain of stuck tasks");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  duet::Notify never;  // nobody notifies it
  std::atomic<int> parked{0};
  auto coro = rt.spawn(wait_notified(never, parked));
  const std::uint_least32_t fiber_line = __LINE__ + 1;
  auto fiber = rt.spawn(duet::stackful(duet::FiberConfig{.name = "stuck-fiber"}), [&] {
    duet::wait(duet::test::note_pending(never.notified(), &parked));
    return 2;
  });
  while (parked.load() < 2) std::this_thread::yield();

  const duet::DrainReport r = rt.drain(20ms);
  CHECK_FALSE(r.finished_in_time);
  REQUIRE(r.cancelled.size() == 2);
  CHECK(count_kind(r, Kind::coroutine) == 1);
  CHECK(count_kind(r, Kind::fiber) == 1);
  for (const auto& c : r.cancelled) {
    INFO("function: " << c.function);
    if (c.kind != Kind::fiber) {
      CHECK(c.file == nullptr);  // a coroutine records no spawn site
      CHECK(c.function.find("wait_notified") != std::string::npos);  // its root coroutine
      continue;
    }
    CHECK(c.function.find("lambda") != std::string::npos);  // the fiber's function
    REQUIRE(c.file != nullptr);
    CHECK(std::strstr(c.file, "drain_test.cpp") != nullptr);
    CHECK(c.line == fiber_line);
    REQUIRE(c.name != nullptr);
    CHECK(std::strcmp(c.name, "stuck-fiber") == 0);
  }
  CHECK_THROWS_AS(coro.join(), duet::Cancelled);
  CHECK_THROWS_AS(fiber.join(), duet::Cancelled);
}

TEST_CASE("drain reports a poll future parked forever as a poll task") {
  duet::test::Watchdog dog("drain of a stuck poll future");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
  std::atomic<int> parked{0};
  auto h = rt.spawn(duet::test::note_pending(duet::test::Never{}, &parked));
  while (parked.load() < 1) std::this_thread::yield();
  const duet::DrainReport r = rt.drain(1ms);
  REQUIRE(r.cancelled.size() == 1);
  CHECK(r.cancelled[0].kind == Kind::poll);
  CHECK(r.cancelled[0].file == nullptr);
  INFO("function: " << r.cancelled[0].function);
  CHECK(r.cancelled[0].function.find("Never") != std::string::npos);  // the future's type
  CHECK_THROWS_AS(h.join(), duet::Cancelled);
}

TEST_CASE(
    "drain cancels a coroutine and a fiber that keep yielding (always queued, never parked)") {
  duet::test::Watchdog dog("drain of yielding tasks");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  std::atomic<int> running{0};
  auto coro = rt.spawn([](std::atomic<int>& r) -> duet::Task<int> {
    r.fetch_add(1);
    for (;;) co_await duet::yield_now();
  }(running));
  auto fiber = rt.spawn(duet::stackful(duet::FiberConfig{}), [&]() -> int {
    running.fetch_add(1);
    for (;;) duet::this_fiber::yield();
  });
  while (running.load() < 2) std::this_thread::yield();
  const duet::DrainReport r = rt.drain(5ms);
  CHECK_FALSE(r.finished_in_time);
  REQUIRE(r.cancelled.size() == 2);
  CHECK(count_kind(r, Kind::coroutine) == 1);
  CHECK(count_kind(r, Kind::fiber) == 1);
  CHECK_THROWS_AS(coro.join(), duet::Cancelled);
  CHECK_THROWS_AS(fiber.join(), duet::Cancelled);
}

TEST_CASE("drain waits for tasks that finish before its deadline and cancels none of them") {
  duet::test::Watchdog dog("drain of tasks that finish");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  duet::Notify go;
  std::atomic<int> parked{0};
  constexpr int kEach = 8;
  std::vector<duet::JoinHandle<int>> handles;
  for (int i = 0; i < kEach; ++i) {
    handles.push_back(rt.spawn(wait_notified(go, parked)));
    handles.push_back(rt.spawn(duet::stackful, [&] {
      duet::wait(duet::test::note_pending(go.notified(), &parked));
      return 1;
    }));
  }
  while (parked.load() < 2 * kEach) std::this_thread::yield();

  std::optional<duet::DrainReport> report;
  std::thread drainer([&] { report = rt.drain(120s); });
  // The drain has begun (spawns are refused) while every task still waits:
  // releasing them now makes them finish during the drain.
  wait_until_refusing(rt);
  go.notify_all();
  drainer.join();
  REQUIRE(report.has_value());
  CHECK(report->finished_in_time);
  CHECK(report->cancelled.empty());
  int sum = 0;
  for (auto& h : handles) sum += h.join();
  CHECK(sum == 2 * kEach);
}

// Issue 72: now + deadline overflowed, and drain(nanoseconds::max())
// cancelled every task at once.
TEST_CASE("drain with a deadline of nanoseconds::max() waits for its tasks as if it had none") {
  duet::test::Watchdog dog("drain with no deadline");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  duet::Notify go;
  std::atomic<int> parked{0};
  auto coro = rt.spawn(wait_notified(go, parked));
  auto fiber = rt.spawn(duet::stackful, [&] {
    duet::wait(duet::test::note_pending(go.notified(), &parked));
    return 1;
  });
  while (parked.load() < 2) std::this_thread::yield();
  std::optional<duet::DrainReport> report;
  std::thread drainer([&] { report = rt.drain(std::chrono::nanoseconds::max()); });
  wait_until_refusing(rt);
  go.notify_all();
  drainer.join();
  REQUIRE(report.has_value());
  CHECK(report->finished_in_time);
  CHECK(report->cancelled.empty());
  CHECK(coro.join() + fiber.join() == 2);
}

TEST_CASE(
    "during a drain tasks in flight spawn and join children while spawns from outside are "
    "refused") {
  duet::test::Watchdog dog("spawn during drain");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  duet::Notify go;
  std::atomic<int> parked{0};
  // A coroutine and a fiber that, once released during the drain, fan out
  // to children of each kind and join them.
  auto coro = rt.spawn([](duet::Notify& n, std::atomic<int>& p) -> duet::Task<int> {
    co_await duet::test::note_pending(n.notified(), &p);
    auto a = duet::spawn([]() -> duet::Task<int> { co_return 20; }());
    auto b = duet::spawn(duet::stackful, [] { return 1; });
    co_return co_await a + co_await b;
  }(go, parked));
  auto fiber = rt.spawn(duet::stackful, [&] {
    duet::wait(duet::test::note_pending(go.notified(), &parked));
    auto a = duet::spawn(duet::stackful, [] { return 21; });
    auto b = duet::spawn(Ready{});
    return a.join() + b.join() + 1;
  });
  while (parked.load() < 2) std::this_thread::yield();

  std::optional<duet::DrainReport> report;
  std::thread drainer([&] { report = rt.drain(120s); });
  wait_until_refusing(rt);
  CHECK_THROWS_AS(rt.spawn(duet::stackful, [] { return 0; }), duet::SpawnRefused);
  CHECK_THROWS_WITH(rt.spawn(duet::test::Never{}), Catch::Contains("draining"));
  go.notify_all();
  drainer.join();
  REQUIRE(report.has_value());
  CHECK(report->finished_in_time);
  CHECK(report->cancelled.empty());
  CHECK(coro.join() == 21);
  CHECK(fiber.join() == 22);
  // After the drain (the runtime is shut down) spawns stay refused.
  CHECK_THROWS_AS(rt.spawn(duet::test::Never{}), duet::SpawnRefused);
}

TEST_CASE("drain cancels the shutdown token, and tasks that wait on it finish in time") {
  duet::test::Watchdog dog("shutdown token");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  const duet::CancellationToken token = rt.shutdown_token();
  std::atomic<int> parked{0};
  auto coro = rt.spawn([](duet::CancellationToken t, std::atomic<int>& p) -> duet::Task<int> {
    co_await duet::test::note_pending(t.cancelled(), &p);
    co_return 1;
  }(token, parked));
  auto fiber = rt.spawn(duet::stackful, [&] {
    duet::wait(duet::test::note_pending(rt.shutdown_token().cancelled(), &parked));
    return 2;
  });
  while (parked.load() < 2) std::this_thread::yield();
  CHECK_FALSE(token.is_cancelled());
  const duet::DrainReport report = rt.drain(120s);
  CHECK(token.is_cancelled());
  CHECK(report.finished_in_time);
  CHECK(report.cancelled.empty());
  CHECK(coro.join() == 1);
  CHECK(fiber.join() == 2);
}

TEST_CASE("shutdown cancels the shutdown token too") {
  duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
  const duet::CancellationToken token = rt.shutdown_token();
  CHECK_FALSE(token.is_cancelled());
  rt.shutdown();
  CHECK(token.is_cancelled());
}

TEST_CASE("a pending call_after neither runs nor holds a drain open") {
  duet::test::Watchdog dog("call_after during drain");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  std::atomic<bool> ran{false};
  duet::TimerHandle hour = duet::call_after(rt, std::chrono::hours(1), [&] { ran = true; });
  duet::TimerHandle dropped = duet::call_after(rt, std::chrono::hours(1), [&] { ran = true; });
  dropped.detach();
  // Past the deadline the drain would cancel both and report them.
  const duet::DrainReport report = rt.drain(60s);
  CHECK(report.finished_in_time);
  CHECK(report.cancelled.empty());
  CHECK_FALSE(ran.load());
  CHECK_THROWS_AS(hour.join(), duet::Cancelled);
  CHECK_FALSE(hour.cancel());  // the drain came first
}

TEST_CASE("a second drain throws logic_error and the first one's report stands") {
  duet::test::Watchdog dog("second drain");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
  const duet::DrainReport first = rt.drain(1s);
  CHECK(first.finished_in_time);
  CHECK(first.cancelled.empty());
  CHECK_THROWS_AS(rt.drain(1s), std::logic_error);
  CHECK_THROWS_WITH(rt.drain(1s), Catch::Contains("second time"));
}

TEST_CASE("drain on one of the runtime's own workers throws logic_error and drains nothing") {
  duet::test::Watchdog dog("drain on a worker");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
  auto from_coro = rt.block_on([](duet::Runtime& r) -> duet::Task<bool> {
    try {
      (void)r.drain(1s);
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  }(rt));
  CHECK(from_coro);
  auto from_fiber = rt.block_on(duet::stackful, [&] {
    try {
      (void)rt.drain(1s);
    } catch (const std::logic_error&) {
      return true;
    }
    return false;
  });
  CHECK(from_fiber);
  // Nothing was drained: spawns are still taken.
  CHECK(rt.block_on(duet::stackful, [] { return 5; }) == 5);
  CHECK(rt.drain(1s).finished_in_time);
}

TEST_CASE("drain on a runtime already shut down finds nothing to cancel") {
  duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
  rt.shutdown();
  const duet::DrainReport r = rt.drain(1s);
  CHECK(r.finished_in_time);
  CHECK(r.cancelled.empty());
}

// Runtime::drain (docs/drain.md): spawns are refused once it begins, tasks
// that finish before the deadline are not cancelled, stuck tasks of each
// kind are cancelled at the deadline and reported with their kind (and a
// fiber's spawn site), a second drain and a drain on one of the runtime's
// own workers are clear errors.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
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
  auto fiber = rt.spawn(duet::stackful(duet::FiberOptions{.name = "stuck-fiber"}), [&] {
    duet::wait(duet::test::note_pending(never.notified(), &parked));
    return 2;
  });
  while (parked.load() < 2) std::this_thread::yield();

  const duet::DrainReport r = rt.drain(20ms);
  CHECK_FALSE(r.finished_in_time);
  REQUIRE(r.cancelled.size() == 2);
  CHECK(count_kind(r, Kind::stackless) == 1);
  CHECK(count_kind(r, Kind::stackful) == 1);
  for (const auto& c : r.cancelled) {
    if (c.kind != Kind::stackful) {
      CHECK(c.file == nullptr);  // a coroutine records no spawn site
      continue;
    }
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
  auto fiber = rt.spawn(duet::stackful(duet::FiberOptions{}), [&]() -> int {
    running.fetch_add(1);
    for (;;) duet::this_fiber::yield();
  });
  while (running.load() < 2) std::this_thread::yield();
  const duet::DrainReport r = rt.drain(5ms);
  CHECK_FALSE(r.finished_in_time);
  REQUIRE(r.cancelled.size() == 2);
  CHECK(count_kind(r, Kind::stackless) == 1);
  CHECK(count_kind(r, Kind::stackful) == 1);
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

TEST_CASE("a spawn after a drain began throws SpawnRefused, from a task and from outside") {
  duet::test::Watchdog dog("spawn during drain");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  duet::Notify go;
  std::atomic<int> parked{0};
  std::atomic<int> refused_inside{0};
  // A coroutine and a fiber that, once released during the drain, try to
  // spawn and record the refusal.
  auto coro = rt.spawn(
      [](duet::Notify& n, std::atomic<int>& p, std::atomic<int>& refused) -> duet::Task<int> {
        co_await duet::test::note_pending(n.notified(), &p);
        try {
          auto h = duet::spawn(duet::test::Never{});
          (void)h;
        } catch (const duet::SpawnRefused&) {
          refused.fetch_add(1);
        }
        co_return 0;
      }(go, parked, refused_inside));
  auto fiber = rt.spawn(duet::stackful, [&] {
    duet::wait(duet::test::note_pending(go.notified(), &parked));
    try {
      auto h = duet::spawn(duet::stackful, [] { return 0; });
      (void)h;
    } catch (const duet::SpawnRefused&) {
      refused_inside.fetch_add(1);
    }
    return 0;
  });
  while (parked.load() < 2) std::this_thread::yield();

  std::optional<duet::DrainReport> report;
  std::thread drainer([&] { report = rt.drain(120s); });
  wait_until_refusing(rt);
  CHECK_THROWS_AS(rt.spawn(duet::stackful, [] { return 0; }), duet::SpawnRefused);
  CHECK_THROWS_WITH(rt.spawn(duet::test::Never{}), Catch::Contains("draining"));
  go.notify_all();
  drainer.join();
  CHECK(refused_inside.load() == 2);
  REQUIRE(report.has_value());
  CHECK(report->cancelled.empty());
  CHECK(coro.join() == 0);
  CHECK(fiber.join() == 0);
  // After the drain (the runtime is shut down) spawns stay refused.
  CHECK_THROWS_AS(rt.spawn(duet::test::Never{}), duet::SpawnRefused);
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

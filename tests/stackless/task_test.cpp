// Task<T>: laziness, values, exceptions, nested awaits that hop through the
// task's run loop (no stack growth), frame reuse.
#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>

#include <duet/duet.hpp>

#include "alloc_tracker.hpp"
#include "test_util.hpp"

namespace {
duet::Task<int> leaf(int v) {
  co_return v;
}

duet::Task<long> depth(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await depth(n - 1);
}

duet::Task<std::unique_ptr<int>> move_only() {
  co_return std::make_unique<int>(5);
}

duet::Task<void> thrower() {
  throw std::invalid_argument("bad");
  co_return;
}
}  // namespace

TEST_CASE("Task is lazy: nothing runs until awaited or spawned", "[task]") {
  bool ran = false;
  {
    auto t = [](bool& r) -> duet::Task<void> {
      r = true;
      co_return;
    }(ran);
    CHECK(t.valid());
  }  // destroyed unstarted
  CHECK_FALSE(ran);
}

TEST_CASE("Task values, move-only values, exceptions, lvalue awaits", "[task]") {
  duet::Runtime rt({.workers = 1});
  auto h = rt.spawn([]() -> duet::Task<std::string> {
    auto p = co_await move_only();
    auto t = leaf(2);
    int two = co_await t;  // lvalue Task
    std::string msg;
    try {
      co_await thrower();
    } catch (const std::invalid_argument& e) {
      msg = e.what();
    }
    co_return std::to_string(*p + two) + msg;
  }());
  CHECK(h.join() == "7bad");
}

TEST_CASE("a chain of nested awaits does not grow the thread stack", "[task]") {
  // Each level's completion hops back to its parent through the task's run
  // loop (coro_task.hpp), not by a nested resume. The worker's 8 MiB stack
  // would overflow long before 1M nested resumes.
  const int n = duet::test::sanitized ? 20000 : 1000000;
  duet::Runtime rt({.workers = 1});
  CHECK(rt.spawn(depth(n)).join() == n);
}

TEST_CASE("spawning an empty Task is an error", "[task]") {
  duet::Runtime rt({.workers = 1});
  duet::Task<int> empty;
  CHECK_THROWS_AS(rt.spawn(std::move(empty)), std::invalid_argument);
}

TEST_CASE("steady-state spawn+join allocates nothing, for both backends", "[task][alloc]") {
  if (!duet::test::alloc_tracking_enabled()) {
    DUET_SKIP("allocation tracking is off in sanitizer builds (their runtimes own malloc)");
  }
  duet::Runtime rt({.workers = 1});
  auto counts = rt.spawn([](duet::Runtime& r) -> duet::Task<std::pair<long, long>> {
    auto round = [&](int n) -> duet::Task<void> {
      for (int i = 0; i < n; ++i) {
        co_await duet::spawn(leaf(i));
        co_await r.spawn(duet::stackful, [i] { return i; });
      }
    };
    co_await round(100);  // warm the block cache and the stack pool
    auto before = duet::test::alloc_counts().news;
    co_await round(10000);
    auto after = duet::test::alloc_counts().news;
    co_return std::pair<long, long>{before, after};
  }(rt));
  auto [before, after] = counts.join();
  CHECK(after - before == 0);
}

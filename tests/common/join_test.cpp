// One JoinHandle for every backend: cross-model joins in all four
// directions plus from outside, with values and exceptions; the handle's
// rules (join once, detach, is_finished, cancel).
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

duet::Task<int> coro_value(int v) {
  co_await duet::yield_now();
  co_return v;
}
duet::Task<int> coro_throws() {
  co_await duet::yield_now();
  throw std::runtime_error("coro boom");
}
auto fiber_value(duet::Runtime& rt, int v) {
  return rt.spawn(duet::stackful, [v] {
    duet::this_fiber::yield();
    return v;
  });
}
auto fiber_throws(duet::Runtime& rt) {
  return rt.spawn(duet::stackful, []() -> int {
    duet::this_fiber::yield();
    throw std::runtime_error("fiber boom");
  });
}

}  // namespace

TEST_CASE("coroutine awaits coroutine and fiber handles", "[join]") {
  duet::Runtime rt({.workers = 2});
  auto h = rt.spawn([](duet::Runtime& r) -> duet::Task<std::string> {
    int a = co_await duet::spawn(coro_value(1));
    int b = co_await fiber_value(r, 2);
    std::string errs;
    try {
      co_await duet::spawn(coro_throws());
    } catch (const std::runtime_error& e) {
      errs += e.what();
    }
    try {
      co_await fiber_throws(r);
    } catch (const std::runtime_error& e) {
      errs += std::string("+") + e.what();
    }
    co_return std::to_string(a + b) + ":" + errs;
  }(rt));
  CHECK(h.join() == "3:coro boom+fiber boom");
}

TEST_CASE("fiber joins coroutine and fiber handles, parking only itself", "[join]") {
  // One worker: if a join blocked the worker thread, this would deadlock.
  duet::test::Watchdog wd("fiber joins");
  duet::Runtime rt({.workers = 1});
  auto h = rt.spawn(duet::stackful, [&rt] {
    auto c = rt.spawn(coro_value(10));
    auto f = fiber_value(rt, 20);
    int sum = c.join() + f.join();
    std::string errs;
    try {
      rt.spawn(coro_throws()).join();
    } catch (const std::runtime_error& e) {
      errs += e.what();
    }
    try {
      fiber_throws(rt).join();
    } catch (const std::runtime_error& e) {
      errs += std::string("+") + e.what();
    }
    return std::to_string(sum) + ":" + errs;
  });
  CHECK(h.join() == "30:coro boom+fiber boom");
}

TEST_CASE("main blocks on either backend", "[join]") {
  duet::Runtime rt({.workers = 2});
  CHECK(rt.spawn(coro_value(7)).join() == 7);
  CHECK(fiber_value(rt, 8).join() == 8);
  CHECK_THROWS_WITH(rt.spawn(coro_throws()).join(), "coro boom");
  CHECK_THROWS_WITH(fiber_throws(rt).join(), "fiber boom");
  // void results
  rt.spawn([]() -> duet::Task<void> { co_return; }()).join();
  rt.spawn(duet::stackful, [] {}).join();
}

TEST_CASE("a handle joins once, then it is empty", "[join]") {
  duet::Runtime rt({.workers = 1});
  auto h = rt.spawn(coro_value(1));
  REQUIRE(h.valid());
  CHECK(h.join() == 1);
  CHECK_FALSE(h.valid());
  CHECK_THROWS_AS(h.join(), std::logic_error);
  auto d = rt.spawn(coro_value(2));
  d.detach();
  CHECK_THROWS_AS(d.join(), std::logic_error);
}

TEST_CASE("is_finished turns true when the task is done", "[join]") {
  duet::Runtime rt({.workers = 1});
  auto h = fiber_value(rt, 5);
  while (!h.is_finished()) std::this_thread::yield();
  CHECK(h.join() == 5);
}

TEST_CASE("cancel: a waiting task of either backend is destroyed and joins as Cancelled",
          "[join][cancel]") {
  duet::test::Watchdog wd("cancel");
  duet::Runtime rt({.workers = 2});
  std::atomic<int> destroyed{0}, started{0};
  struct Guard {
    std::atomic<int>* n;
    ~Guard() { n->fetch_add(1); }
  };
  auto c = rt.spawn([](std::atomic<int>& n, std::atomic<int>& s) -> duet::Task<int> {
    Guard g{&n};
    s.fetch_add(1);
    co_return co_await duet::test::Never{};
  }(destroyed, started));
  auto f = rt.spawn(duet::stackful, [&destroyed, &started] {
    Guard g{&destroyed};
    started.fetch_add(1);
    return duet::wait(duet::test::Never{});
  });
  // Cancel them while they wait (not before they start).
  while (started.load() < 2) std::this_thread::yield();
  c.cancel();
  f.cancel();
  CHECK_THROWS_AS(c.join(), duet::Cancelled);
  CHECK_THROWS_AS(f.join(), duet::Cancelled);
  CHECK(destroyed.load() == 2);
}

TEST_CASE("cancel before the first run: the task never runs", "[join][cancel]") {
  duet::Runtime rt({.workers = 1});
  std::atomic<bool> release{false}, ran{false};
  // Keep the only worker busy so the next spawns stay queued.
  auto blocker = rt.spawn([](std::atomic<bool>& r) -> duet::Task<void> {
    while (!r.load()) std::this_thread::yield();
    co_return;
  }(release));
  auto c = rt.spawn([](std::atomic<bool>& r) -> duet::Task<int> {
    r.store(true);
    co_return 1;
  }(ran));
  auto f = rt.spawn(duet::stackful, [&ran] {
    ran.store(true);
    return 2;
  });
  c.cancel();
  f.cancel();
  release.store(true);
  blocker.join();
  CHECK_THROWS_AS(c.join(), duet::Cancelled);
  CHECK_THROWS_AS(f.join(), duet::Cancelled);
  CHECK_FALSE(ran.load());
}

TEST_CASE("cancel after completion keeps the result", "[join][cancel]") {
  duet::Runtime rt({.workers = 1});
  auto h = rt.spawn(coro_value(3));
  while (!h.is_finished()) std::this_thread::yield();
  h.cancel();
  CHECK(h.join() == 3);
}

TEST_CASE("blocking waits on a worker outside a fiber are refused", "[join]") {
  duet::Runtime rt({.workers = 1});
  auto h = rt.spawn([](duet::Runtime& r) -> duet::Task<bool> {
    auto inner = r.spawn(coro_value(1));
    bool refused = false;
    try {
      inner.join();  // would block the worker
    } catch (const std::logic_error&) {
      refused = true;
    }
    // The refused join left the handle usable.
    co_return refused&& co_await inner == 1;
  }(rt));
  CHECK(h.join());
}

namespace {
// A poll future completed by another thread: exercises the waker path.
struct Flag {
  std::atomic<bool> set{false};
  std::mutex mu;
  duet::Waker waiter;
  void fire() {
    duet::Waker w;
    {
      std::lock_guard g(mu);
      set.store(true);
      w = std::move(waiter);
    }
    std::move(w).wake();
  }
};
struct FlagFuture {
  Flag* f;
  duet::Poll<int> poll(duet::Context& cx) {
    std::lock_guard g(f->mu);
    if (f->set.load()) return 99;
    f->waiter = cx.waker();
    return duet::pending;
  }
};
}  // namespace

TEST_CASE("poll futures: spawned directly, awaited, and waited on", "[join][poll]") {
  duet::test::Watchdog wd("poll futures");
  duet::Runtime rt({.workers = 2});
  Flag a, b, c;
  auto direct = rt.spawn(FlagFuture{&a});
  auto awaited = rt.spawn([](Flag& f) -> duet::Task<int> { co_return co_await FlagFuture{&f}; }(b));
  auto waited = rt.spawn(duet::stackful, [&c] { return duet::wait(FlagFuture{&c}); });
  std::thread t([&] {
    a.fire();
    b.fire();
    c.fire();
  });
  CHECK(direct.join() == 99);
  CHECK(awaited.join() == 99);
  CHECK(waited.join() == 99);
  t.join();
  Flag d;
  std::thread t2([&] { d.fire(); });
  CHECK(duet::wait(FlagFuture{&d}) == 99);  // from main: parks the thread
  t2.join();
}

TEST_CASE("an exception from a detached task is reported", "[join]") {
  std::atomic<int> reported{0};
  {
    duet::Runtime rt({.workers = 1,
                      .on_detached_exception = [&](std::exception_ptr) { reported.fetch_add(1); }});
    rt.spawn(coro_throws()).detach();
    fiber_throws(rt).detach();
    // Let both finish: a joined task afterwards proves the worker moved on.
    while (reported.load() < 2) std::this_thread::yield();
  }
  CHECK(reported.load() == 2);
}

TEST_CASE("yield_now works in every face", "[join]") {
  duet::Runtime rt({.workers = 1});
  auto c = rt.spawn([]() -> duet::Task<int> {
    int n = 0;
    for (int i = 0; i < 1000; ++i) {
      co_await duet::yield_now();
      ++n;
    }
    co_return n;
  }());
  auto f = rt.spawn(duet::stackful, [] {
    int n = 0;
    for (int i = 0; i < 1000; ++i) {
      duet::this_fiber::yield();
      duet::wait(duet::yield_now());
      ++n;
    }
    return n;
  });
  CHECK(c.join() == 1000);
  CHECK(f.join() == 1000);
  CHECK_THROWS_AS(duet::this_fiber::yield(), std::logic_error);
}

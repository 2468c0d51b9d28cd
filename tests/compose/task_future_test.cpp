// A Task is a poll future (issue 50, item 2): timeout, select and
// duet::wait take one directly, in both models; a Task that loses is
// destroyed where it waits (its destructors run), not detached. A
// CancelOnDrop handle cancels its task when a timeout drops it.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include <duet/duet.hpp>

#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

/// Counts its destruction: proof that a frame holding it was destroyed.
struct DropCount {
  std::atomic<int>* n;
  ~DropCount() { n->fetch_add(1); }
};

duet::Task<int> plus_one(int v) {
  co_await duet::yield_now();
  co_return v + 1;
}
/// A chain of two awaits (a child Task, a yield) before its result.
duet::Task<std::string> nested(int v) {
  int w = co_await plus_one(v);
  co_await duet::yield_now();
  co_return std::to_string(w);
}
/// Waits on `never` (never notified), holding a DropCount in a child's frame.
duet::Task<int> waits_forever(duet::Notify* never, std::atomic<int>* dropped) {
  auto inner = [](duet::Notify* nv, std::atomic<int>* d) -> duet::Task<int> {
    DropCount g{d};
    co_await nv->notified();
    co_return 1;
  };
  co_return co_await inner(never, dropped);
}
/// As waits_forever, as a task of its own that says when it has started.
duet::Task<int> parks_forever(duet::Notify* never, std::atomic<int>* started,
                              std::atomic<int>* dropped) {
  DropCount g{dropped};
  started->fetch_add(1);
  co_await never->notified();
  co_return 1;
}
duet::Task<int> throws_late() {
  co_await duet::yield_now();
  throw std::runtime_error("task future boom");
}

}  // namespace

TEST_CASE("task future: co_await timeout and select over a Task (coroutine)", "[task_future]") {
  duet::test::Watchdog wd("task future coroutine");
  duet::Runtime rt(duet::test::unpinned_config(2));
  std::atomic<int> dropped{0};
  duet::Notify never;
  auto h = rt.spawn([](duet::Notify* nv, std::atomic<int>* d) -> duet::Task<std::string> {
    std::string log;
    auto a = co_await duet::timeout(10s, nested(4));
    log += a ? *a : "timeout";
    auto b = co_await duet::timeout_at(duet::Clock::now(), waits_forever(nv, d));
    log += b ? "|ready" : "|timeout";
    log += "|dropped=" + std::to_string(d->load());  // destroyed in the timeout
    auto s = co_await duet::select(waits_forever(nv, d), plus_one(1));
    log += "|" + std::to_string(s.index()) + ":" + std::to_string(s.get<1>());
    log += "|dropped=" + std::to_string(d->load());
    try {
      co_await duet::timeout(10s, throws_late());
    } catch (const std::runtime_error& e) {
      log += std::string("|") + e.what();
    }
    co_return log;
  }(&never, &dropped));
  CHECK(h.join() == "5|timeout|dropped=1|1:2|dropped=2|task future boom");
}

TEST_CASE("task future: duet::wait over a Task, a timeout and a select (fiber)", "[task_future]") {
  duet::test::Watchdog wd("task future fiber");
  duet::Runtime rt(duet::test::unpinned_config(2));
  std::atomic<int> dropped{0};
  duet::Notify never;
  auto h = rt.spawn(duet::stackful, [&] {
    std::string log = duet::wait(nested(1));
    auto b = duet::wait(duet::timeout_at(duet::Clock::now(), waits_forever(&never, &dropped)));
    log += b ? "|ready" : "|timeout";
    log += "|dropped=" + std::to_string(dropped.load());
    auto s = duet::wait(duet::select(waits_forever(&never, &dropped), plus_one(7)));
    log += "|" + std::to_string(s.index()) + ":" + std::to_string(s.get<1>());
    log += "|dropped=" + std::to_string(dropped.load());
    try {
      duet::wait(throws_late());
    } catch (const std::runtime_error& e) {
      log += std::string("|") + e.what();
    }
    return log;
  });
  CHECK(h.join() == "2|timeout|dropped=1|1:8|dropped=2|task future boom");
}

TEST_CASE("task future: a Task waits on a task's handle from a plain thread", "[task_future]") {
  duet::test::Watchdog wd("task future thread");
  duet::Runtime rt(duet::test::unpinned_config(2));
  auto joins = [](duet::JoinHandle<int> h) -> duet::Task<int> { co_return 10 + co_await h; };
  CHECK(duet::wait(joins(rt.spawn(plus_one(1)))) == 12);
  duet::Task<int> moved_from = plus_one(0);
  auto keep = std::move(moved_from);
  CHECK_THROWS_AS(duet::wait(moved_from), std::logic_error);
  CHECK(duet::wait(keep) == 1);
}

TEST_CASE("task future: a CancelOnDrop handle that loses a timeout cancels its task",
          "[task_future]") {
  duet::test::Watchdog wd("cancel on drop");
  duet::Runtime rt(duet::test::unpinned_config(2));
  std::atomic<int> started{0};
  std::atomic<int> dropped{0};
  duet::Notify never;
  auto coro =
      rt.spawn([](duet::Notify* nv, std::atomic<int>* s, std::atomic<int>* d) -> duet::Task<bool> {
        auto h = duet::spawn(parks_forever(nv, s, d)).cancel_on_drop();
        while (s->load() < 1) co_await duet::yield_now();
        auto r = co_await duet::timeout_at(duet::Clock::now(), std::move(h));
        co_return !r.has_value();
      }(&never, &started, &dropped));
  CHECK(coro.join());
  // The cancelled task's frame is destroyed by its cancellation.
  while (dropped.load() < 1) std::this_thread::yield();
  auto fib = rt.spawn(duet::stackful, [&] {
    auto h = duet::spawn(parks_forever(&never, &started, &dropped)).cancel_on_drop();
    while (started.load() < 2) duet::this_fiber::yield();
    return !duet::wait(duet::timeout_at(duet::Clock::now(), std::move(h))).has_value();
  });
  CHECK(fib.join());
  while (dropped.load() < 2) std::this_thread::yield();
  // Joined, it is an ordinary handle; into_handle() gives the plain one back.
  auto joined = rt.spawn(duet::stackful, [] {
    auto h = duet::spawn(plus_one(2)).cancel_on_drop();
    return duet::wait(h) + (std::move(h).into_handle().valid() ? 10 : 0);
  });
  CHECK(joined.join() == 3);
  CHECK(dropped.load() == 2);
}

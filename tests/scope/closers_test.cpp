// Several tasks awaiting one scope's close() at once (issue 72,
// tokio-util's TaskTracker::wait): each is a waiter in the scope's list and
// each is woken at the scope's end; a closer that leaves hands the drain
// to the next. Hand-polled from a plain thread (the overlap is certain),
// then awaited from a coroutine, a fiber and a plain thread together.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace closers {

/// A waker that counts its wakes (it owns no task).
struct CountingWaker {
  std::atomic<int> wakes{0};
  static void clone(void*) {}
  static void wake(void* d) { static_cast<CountingWaker*>(d)->wakes.fetch_add(1); }
  static void drop(void*) {}
  static constexpr duet::WakerVTable vt{&clone, &wake, &wake, &drop};
};

/// Polls `f` once with `w`'s waker: ready?
template <class F>
bool poll_with(F& f, CountingWaker& w) {
  duet::Waker waker = duet::Waker::adopt(&w, &CountingWaker::vt);
  duet::Context cx(waker);
  const bool ready = f.poll(cx).is_ready();
  std::move(waker).release();
  return ready;
}

/// A child that runs (never suspends) until `go`: a close cancels it only
/// at its end, so the closers wait meanwhile.
void spawn_busy(duet::TaskScope<int>& scope, std::atomic<bool>* started, std::atomic<bool>* go) {
  scope.spawn(duet::stackful, [started, go] {
    started->store(true);
    while (!go->load()) std::this_thread::yield();
    return 1;
  });
}

void wait_for_wake(const CountingWaker& w) {
  while (w.wakes.load() == 0) std::this_thread::yield();
}

}  // namespace closers

using closers::CountingWaker;

TEST_CASE("scope: three closes wait at once and each is woken at the end", "[scope][closers]") {
  duet::test::Watchdog wd("scope closers", std::chrono::seconds(60));
  duet::Runtime rt(duet::test::cpu_only_config(2));
  duet::TaskScope<int> scope(rt);
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  closers::spawn_busy(scope, &started, &go);
  while (!started.load()) std::this_thread::yield();
  auto a = scope.close();
  auto b = scope.close();
  auto c = scope.close();
  CountingWaker wa;
  CountingWaker wb;
  CountingWaker wc;
  // The child runs: all three wait (before, the second was a logic_error).
  CHECK_FALSE(closers::poll_with(a, wa));
  CHECK_FALSE(closers::poll_with(b, wb));
  CHECK_FALSE(closers::poll_with(c, wc));
  CHECK(scope.closed());
  go.store(true);
  // The front closer is woken by the completion and finds the end; it
  // completes the other two, which are woken.
  closers::wait_for_wake(wa);
  CHECK(closers::poll_with(a, wa));
  closers::wait_for_wake(wb);
  closers::wait_for_wake(wc);
  CHECK(closers::poll_with(b, wb));
  CHECK(closers::poll_with(c, wc));
  CHECK(scope.size() == 0);
}

TEST_CASE("scope: a close that leaves while waiting hands the end to the next",
          "[scope][closers]") {
  duet::test::Watchdog wd("scope closer leaves", std::chrono::seconds(60));
  duet::Runtime rt(duet::test::cpu_only_config(2));
  duet::TaskScope<int> scope(rt);
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  closers::spawn_busy(scope, &started, &go);
  while (!started.load()) std::this_thread::yield();
  std::optional<duet::TaskScope<int>::Close> a(scope.close());
  auto b = scope.close();
  CountingWaker wa;
  CountingWaker wb;
  CHECK_FALSE(closers::poll_with(*a, wa));
  CHECK_FALSE(closers::poll_with(b, wb));
  go.store(true);
  closers::wait_for_wake(wa);  // the child ended: the front closer was told
  a.reset();                   // and leaves without looking
  closers::wait_for_wake(wb);  // the next one is told instead
  CHECK(closers::poll_with(b, wb));
  CHECK(scope.size() == 0);
}

TEST_CASE("scope: a coroutine, a fiber and a thread await close() together", "[scope][closers]") {
  duet::test::Watchdog wd("scope closers both models", std::chrono::seconds(60));
  duet::Runtime rt(duet::test::cpu_only_config(3));
  duet::TaskScope<int> scope(rt);
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  closers::spawn_busy(scope, &started, &go);
  while (!started.load()) std::this_thread::yield();
  std::atomic<int> entered{0};
  auto coro = rt.spawn([](duet::TaskScope<int>* s, std::atomic<int>* n) -> duet::Task<bool> {
    n->fetch_add(1);
    co_await s->close();
    co_return s->size() == 0;
  }(&scope, &entered));
  auto fiber = rt.spawn(duet::stackful, [&scope, &entered] {
    entered.fetch_add(1);
    duet::wait(scope.close());
    return scope.size() == 0;
  });
  bool thread_done = false;
  std::thread th([&] {
    entered.fetch_add(1);
    duet::wait(scope.close());
    thread_done = scope.size() == 0;
  });
  while (entered.load() < 3) std::this_thread::yield();
  go.store(true);
  CHECK(coro.join());
  CHECK(fiber.join());
  th.join();
  CHECK(thread_done);
}

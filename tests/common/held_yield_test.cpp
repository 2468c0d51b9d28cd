// held_yield_test.cpp: a yield holds its run (common/src/sched/held_run.hpp):
// the task goes to the back of its ring still RUNNING, and whoever takes the
// entry (its worker, a thief, a fiber's hand-off, the shutdown drain) resumes
// it without a transition. These cases drive every way such an entry can
// leave a ring: popped, stolen, overflowed to the injector (where the run is
// given up), cancelled while it waits, and drained at shutdown. The plain
// and sanitizer builds check every transition's precondition, so a held
// entry started with to_running, or one given up twice, aborts.
#include <catch2/catch.hpp>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

duet::Task<int> yield_n(int n) {
  for (int i = 0; i < n; ++i) co_await duet::yield_now();
  co_return n;
}

duet::Task<void> yield_forever(std::atomic<int>& started) {
  started.fetch_add(1);
  for (;;) co_await duet::yield_now();
}

void fiber_yield_forever(std::atomic<int>& started) {
  started.fetch_add(1);
  for (;;) duet::this_fiber::yield();
}

std::uint64_t sum_stats(duet::Runtime& rt, std::uint64_t duet::WorkerStats::*field) {
  std::uint64_t n = 0;
  for (const auto& s : rt.stats()) n += s.*field;
  return n;
}

}  // namespace

TEST_CASE("yielding tasks overflow tiny rings, are stolen, and lose nothing",
          "[scheduler][held_yield][stress]") {
  duet::test::Watchdog wd("held yields through tiny rings");
  // 4-slot rings: a ring of held entries overflows to the injector (each
  // run given up there) and is stolen from at every turn.
  duet::Runtime rt({.workers = 2, .local_queue_capacity = 4});
  const int tasks = 48;
  const int fibers = 16;
  const int yields = duet::test::sanitized ? 50 : 300;
  long sum = rt.block_on([](int tasks, int fibers, int yields) -> duet::Task<long> {
    std::vector<duet::JoinHandle<int>> hs;
    for (int i = 0; i < tasks; ++i) hs.push_back(duet::spawn(yield_n(yields)));
    for (int i = 0; i < fibers; ++i) {
      hs.push_back(duet::spawn(duet::stackful, [yields] {
        for (int k = 0; k < yields; ++k) duet::this_fiber::yield();
        return yields;
      }));
    }
    long s = 0;
    for (auto& h : hs) s += co_await h;
    co_return s;
  }(tasks, fibers, yields));
  CHECK(sum == static_cast<long>(tasks + fibers) * yields);
  CHECK(sum_stats(rt, &duet::WorkerStats::overflows) > 0);
  CHECK(sum_stats(rt, &duet::WorkerStats::yields) >= static_cast<std::uint64_t>(tasks) * yields);
}

TEST_CASE("a task cancelled while its yield waits in a ring ends Cancelled",
          "[scheduler][held_yield]") {
  duet::test::Watchdog wd("cancel a held yield");
  // Two yielders on one worker: each yield queues one behind the other, so
  // a cancel finds them RUNNING with their run held in the ring, or
  // running.
  duet::Runtime rt({.workers = 1});
  std::atomic<int> started{0};
  auto a = rt.spawn(yield_forever(started));
  auto b = rt.spawn(duet::stackful, [&started] { fiber_yield_forever(started); });
  auto c = rt.spawn(yield_forever(started));
  while (started.load() < 3) std::this_thread::yield();
  a.cancel();
  b.cancel();
  c.cancel();
  CHECK_THROWS_AS(a.join(), duet::Cancelled);
  CHECK_THROWS_AS(b.join(), duet::Cancelled);
  CHECK_THROWS_AS(c.join(), duet::Cancelled);
}

TEST_CASE("shutdown cancels tasks whose yields wait in the rings", "[scheduler][held_yield]") {
  duet::test::Watchdog wd("shutdown with held yields");
  std::vector<duet::JoinHandle<void>> hs;
  std::atomic<int> started{0};
  {
    duet::Runtime rt({.workers = 2});
    for (int i = 0; i < 8; ++i) {
      hs.push_back(rt.spawn(yield_forever(started)));
      hs.push_back(rt.spawn(duet::stackful, [&started] { fiber_yield_forever(started); }));
    }
    while (started.load() < 16) std::this_thread::yield();
  }
  for (auto& h : hs) CHECK_THROWS_AS(h.join(), duet::Cancelled);
}

TEST_CASE("a wake that lands while a yield is held is not lost", "[scheduler][held_yield]") {
  duet::test::Watchdog wd("wake during a held yield");
  // The receiver yields between receives, so the sender's wakes often find
  // it RUNNING with its run held; each must still lead to the receive.
  duet::Runtime rt({.workers = 2});
  const int n = duet::test::sanitized ? 2000 : 20000;
  long got = rt.block_on([](int n) -> duet::Task<long> {
    auto ch = duet::Channel<int>::bounded(1);
    auto recv = duet::spawn([](duet::Channel<int> ch, int n) -> duet::Task<long> {
      long s = 0;
      for (int i = 0; i < n; ++i) {
        std::optional<int> v = co_await ch.recv();
        s += v.value_or(0);
        co_await duet::yield_now();
      }
      co_return s;
    }(ch, n));
    auto busy = duet::spawn(yield_n(n));
    for (int i = 0; i < n; ++i) (void)co_await ch.send(1);
    co_await busy;
    co_return co_await recv;
  }(n));
  CHECK(got == n);
}

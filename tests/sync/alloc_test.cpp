// Zero allocations on every wait path (claim R4), checked with the
// allocation tracker (operator new calls; skipped under sanitizers, which
// bring their own allocator).
#include <alloc_tracker.hpp>
#include <catch2/catch.hpp>

#include "sync_util.hpp"

using namespace duet;
using namespace duet::synctest;

namespace {
std::int64_t news() {
  return duet::test::alloc_counts().news;
}

Task<std::int64_t> ping(Channel<int> a, Channel<int> b, Mutex& m, Notify& n, int rounds) {
  for (int i = 0; i < 100; ++i) {  // warm-up: the block cache fills
    (void)co_await a.send(i);
    (void)co_await b.recv();
  }
  auto n0 = news();
  for (int i = 0; i < rounds; ++i) {
    (void)co_await a.send(i);    // parks (rendezvous) or hands over
    (void)co_await b.recv();     // parks
    auto g = co_await m.lock();  // contended by the fiber half the time
    n.notify_one();
  }
  co_return news() - n0;
}
}  // namespace

TEST_CASE("alloc: no allocation per wait (channels, mutex, notify, both models)", "[alloc]") {
  if (!duet::test::alloc_tracking_enabled()) return;
  Watchdog wd("alloc");
  Runtime rt(small_rt(1));
  auto a = Channel<int>::bounded(0), b = Channel<int>::bounded(0);
  Mutex m;
  Notify n;
  const int rounds = 2000;
  auto h = rt.spawn(ping(a, b, m, n, rounds));
  auto f = rt.spawn(duet::stackful, [a, b, &m, &n, rounds]() mutable {
    for (int i = 0; i < rounds + 100; ++i) {
      auto v = duet::wait(a.recv());
      {
        auto g = duet::wait(m.lock());
        duet::this_fiber::yield();  // hold it across a switch: the coroutine waits
      }
      (void)duet::wait(b.send(*v));
      if (i >= 100) duet::wait(n.notified());
    }
  });
  CHECK(h.join() == 0);
  f.join();
}

struct TimerAllocProbe {
  std::vector<Sleep>* v;
  std::int64_t* allocs;
  Poll<void> poll(Context& cx) {
    auto n0 = news();
    for (auto& s : *v) (void)s.poll(cx);  // insert into the worker's wheel
    v->clear();                           // cancel
    *allocs = news() - n0;
    return ready();
  }
};

TEST_CASE("alloc: no allocation to insert or cancel a timer", "[alloc][time]") {
  if (!duet::test::alloc_tracking_enabled()) return;
  Runtime rt(small_rt(1));
  std::vector<Sleep> v;
  v.reserve(10000);
  auto base = Clock::now() + 1h;
  for (int i = 0; i < 10000; ++i) v.emplace_back(base + std::chrono::microseconds(i * 37));
  std::int64_t allocs = -1;
  rt.spawn(TimerAllocProbe{&v, &allocs}).join();
  CHECK(allocs == 0);
}

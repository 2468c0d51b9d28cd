#include <catch2/catch.hpp>

#include "sync_util.hpp"

using namespace duet;
using namespace duet::synctest;

TEST_CASE("mutex: contended by coroutines, fibers and threads: no double grant, no lost wake-up",
          "[sync][mutex][stress]") {
  Watchdog wd("mutex contention");
  Runtime rt(small_rt(2));
  Mutex m;
  std::atomic<int> inside{0};
  std::atomic<int> violations{0};
  long counter = 0;  // guarded by m: a data race here is a TSan report
  const int iters = sanitized ? 500 : 5000;
  auto body = [&] {
    if (inside.fetch_add(1) != 0) violations++;
    ++counter;
    inside.fetch_sub(1);
  };
  std::vector<JoinHandle<void>> hs;
  for (int t = 0; t < 4; ++t) {
    hs.push_back(rt.spawn([](Mutex& m, int iters, decltype(body)& body) -> Task<void> {
      for (int i = 0; i < iters; ++i) {
        auto g = co_await m.lock();
        body();
        if (i % 7 == 0) co_await duet::yield_now();  // hold it across a suspension
      }
    }(m, iters, body)));
    hs.push_back(rt.spawn(duet::stackful, [&m, iters, &body] {
      for (int i = 0; i < iters; ++i) {
        auto g = duet::wait(m.lock());
        body();
        if (i % 5 == 0) duet::this_fiber::yield();
      }
    }));
  }
  std::thread th([&] {
    for (int i = 0; i < iters; ++i) {
      auto g = duet::wait(m.lock());
      body();
    }
  });
  for (auto& h : hs) h.join();
  th.join();
  CHECK(violations.load() == 0);
  CHECK(counter == 9L * iters);
  CHECK_FALSE(m.is_locked());
}

TEST_CASE("mutex: try_lock tier and guards", "[sync][mutex]") {
  Mutex m;
  {
    auto g = m.try_lock();
    CHECK(g);
    CHECK_FALSE(m.try_lock());
  }
  CHECK(m.try_lock());
}

TEST_CASE("mutex: a waiter granted the lock and destroyed unseen passes it on", "[sync][mutex]") {
  Mutex m;
  CountingWaker a, b;
  auto g = m.try_lock();
  auto la = std::make_unique<Mutex::Lock>(m.lock());
  Mutex::Lock lb = m.lock();
  REQUIRE(poll_once(*la, a).is_pending());
  REQUIRE(poll_once(lb, b).is_pending());
  g.unlock();  // grants la
  CHECK(a.wakes.load() == 1);
  CHECK(b.wakes.load() == 0);
  la.reset();  // destroyed before it saw the grant: lb gets it
  CHECK(b.wakes.load() == 1);
  auto p = poll_once(lb, b);
  REQUIRE(p.is_ready());
  CHECK(m.is_locked());
  p.value().unlock();
  CHECK_FALSE(m.is_locked());
  CHECK(a.refs.load() == 0);
  CHECK(b.refs.load() == 0);
}

TEST_CASE("semaphore: FIFO, big requests are not overtaken", "[sync][semaphore]") {
  Semaphore s(2);
  CountingWaker big, small;
  auto a = s.acquire(3);
  REQUIRE(poll_once(a, big).is_pending());
  auto b = s.acquire(1);
  REQUIRE(poll_once(b, small).is_pending());  // queued behind the big one
  CHECK_FALSE(s.try_acquire(1));              // no barging past waiters
  s.release(1);
  CHECK(big.wakes.load() == 1);
  REQUIRE(poll_once(a, big).is_ready());
  CHECK(small.wakes.load() == 0);
  s.release(3);
  CHECK(small.wakes.load() == 1);
  REQUIRE(poll_once(b, small).is_ready());
  CHECK(s.available_permits() == 2);
}

TEST_CASE("semaphore: contention keeps the permit count exact", "[sync][semaphore][stress]") {
  Watchdog wd("semaphore");
  Runtime rt(small_rt(2));
  Semaphore s(3);
  std::atomic<int> held{0}, maxheld{0}, over{0};
  const int iters = sanitized ? 300 : 3000;
  std::vector<JoinHandle<void>> hs;
  for (int t = 0; t < 6; ++t) {
    auto body = [&, t](int i) {
      std::size_t n = static_cast<std::size_t>((t + i) % 3 + 1);
      int h = held.fetch_add(static_cast<int>(n)) + static_cast<int>(n);
      if (h > 3) over++;
      int mx = maxheld.load();
      while (h > mx && !maxheld.compare_exchange_weak(mx, h)) {
      }
      held.fetch_sub(static_cast<int>(n));
      return n;
    };
    if (t % 2 == 0) {
      hs.push_back(rt.spawn([](Semaphore& s, int iters, decltype(body) body, int t) -> Task<void> {
        for (int i = 0; i < iters; ++i) {
          co_await s.acquire(static_cast<std::size_t>((t + i) % 3 + 1));
          s.release(body(i));
        }
      }(s, iters, body, t)));
    } else {
      hs.push_back(rt.spawn(duet::stackful, [&s, iters, body, t] {
        for (int i = 0; i < iters; ++i) {
          duet::wait(s.acquire(static_cast<std::size_t>((t + i) % 3 + 1)));
          s.release(body(i));
        }
      }));
    }
  }
  for (auto& h : hs) h.join();
  CHECK(over.load() == 0);
  CHECK(s.available_permits() == 3);
}

TEST_CASE("rwlock: readers share, writers exclude, writers are not starved", "[sync][rwlock]") {
  RwLock rw;
  auto r1 = rw.try_read();
  auto r2 = rw.try_read();
  CHECK(r1);
  CHECK(r2);
  CHECK_FALSE(rw.try_write());
  CountingWaker w, r;
  auto wf = rw.write();
  REQUIRE(poll_once(wf, w).is_pending());
  auto rf = rw.read();
  REQUIRE(poll_once(rf, r).is_pending());  // queued behind the writer
  r1.unlock();
  r2.unlock();
  CHECK(w.wakes.load() == 1);
  auto wg = poll_once(wf, w);
  REQUIRE(wg.is_ready());
  CHECK(r.wakes.load() == 0);
  wg.value().unlock();
  CHECK(r.wakes.load() == 1);
  CHECK(poll_once(rf, r).is_ready());
}

TEST_CASE("rwlock: mixed stress", "[sync][rwlock][stress]") {
  Watchdog wd("rwlock");
  Runtime rt(small_rt(2));
  RwLock rw;
  std::atomic<int> readers{0}, writers{0}, bad{0};
  const int iters = sanitized ? 300 : 3000;
  std::vector<JoinHandle<void>> hs;
  for (int t = 0; t < 6; ++t) {
    hs.push_back(rt.spawn([](RwLock& rw, int t, int iters, std::atomic<int>& readers,
                             std::atomic<int>& writers, std::atomic<int>& bad) -> Task<void> {
      for (int i = 0; i < iters; ++i) {
        if ((i + t) % 4 == 0) {
          auto g = co_await rw.write();
          if (writers.fetch_add(1) != 0 || readers.load() != 0) bad++;
          co_await duet::yield_now();
          writers.fetch_sub(1);
        } else {
          auto g = co_await rw.read();
          readers.fetch_add(1);
          if (writers.load() != 0) bad++;
          co_await duet::yield_now();
          readers.fetch_sub(1);
        }
      }
    }(rw, t, iters, readers, writers, bad)));
  }
  for (auto& h : hs) h.join();
  CHECK(bad.load() == 0);
}

TEST_CASE("notify: a permit is kept, notify_all wakes the waiting and the created",
          "[sync][notify]") {
  Notify n;
  CountingWaker cw;
  CHECK_FALSE(n.try_notified());
  n.notify_one();
  CHECK(n.try_notified());  // tier 1 consumes the permit
  n.notify_one();           // nobody waits: stored
  {
    auto f = n.notified();
    CHECK(poll_once(f, cw).is_ready());
  }
  {
    auto f = n.notified();
    CHECK(poll_once(f, cw).is_pending());  // the permit was consumed
  }
  // Created before notify_all, polled after: completes (no lost notification).
  auto early = n.notified();
  auto waiting = n.notified();
  REQUIRE(poll_once(waiting, cw).is_pending());
  n.notify_all();
  CHECK(poll_once(waiting, cw).is_ready());
  CHECK(poll_once(early, cw).is_ready());
  auto late = n.notified();
  CHECK(poll_once(late, cw).is_pending());  // notify_all stores nothing
}

TEST_CASE("notify: a chosen waiter that dies unseen passes the notification on", "[sync][notify]") {
  Notify n;
  CountingWaker a, b;
  auto fa = std::make_unique<Notify::Notified>(n.notified());
  auto fb = n.notified();
  REQUIRE(poll_once(*fa, a).is_pending());
  REQUIRE(poll_once(fb, b).is_pending());
  n.notify_one();
  CHECK(a.wakes.load() == 1);
  fa.reset();
  CHECK(b.wakes.load() == 1);
  CHECK(poll_once(fb, b).is_ready());
}

TEST_CASE("notify: ping-pong between a coroutine and a fiber never loses a wake-up",
          "[sync][notify][stress]") {
  Watchdog wd("notify ping-pong");
  Runtime rt(small_rt(2));
  Notify ping, pong;
  const int n = sanitized ? 2000 : 20000;
  auto a = rt.spawn([](Notify& ping, Notify& pong, int n) -> Task<void> {
    for (int i = 0; i < n; ++i) {
      ping.notify_one();
      co_await pong.notified();
    }
  }(ping, pong, n));
  auto b = rt.spawn(duet::stackful, [&ping, &pong, n] {
    for (int i = 0; i < n; ++i) {
      duet::wait(ping.notified());
      pong.notify_one();
    }
  });
  a.join();
  b.join();
}

TEST_CASE("barrier: one leader per generation, reusable, both models", "[sync][barrier]") {
  Watchdog wd("barrier");
  Runtime rt(small_rt(2));
  Barrier b(4);
  std::atomic<int> leaders{0};
  std::vector<JoinHandle<void>> hs;
  for (int t = 0; t < 4; ++t) {
    if (t % 2 == 0) {
      hs.push_back(rt.spawn([](Barrier& b, std::atomic<int>& leaders) -> Task<void> {
        for (int g = 0; g < 50; ++g) {
          if ((co_await b.wait()).is_leader()) leaders++;
        }
      }(b, leaders)));
    } else {
      hs.push_back(rt.spawn(duet::stackful, [&b, &leaders] {
        for (int g = 0; g < 50; ++g) {
          if (duet::wait(b.wait()).is_leader()) leaders++;
        }
      }));
    }
  }
  for (auto& h : hs) h.join();
  CHECK(leaders.load() == 50);
}

TEST_CASE("barrier: a withdrawn waiter does not count", "[sync][barrier]") {
  Barrier b(2);
  CountingWaker cw;
  {
    auto w = b.wait();
    REQUIRE(poll_once(w, cw).is_pending());
  }  // withdrawn
  auto w1 = b.wait();
  REQUIRE(poll_once(w1, cw).is_pending());
  auto w2 = b.wait();
  auto r = poll_once(w2, cw);
  REQUIRE(r.is_ready());
  CHECK(r.value().is_leader());
  CHECK(poll_once(w1, cw).is_ready());
}

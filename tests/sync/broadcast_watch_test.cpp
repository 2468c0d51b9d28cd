#include <catch2/catch.hpp>

#include <stdexcept>
#include <thread>
#include <vector>

#include "sync_util.hpp"

using namespace duet;
using namespace duet::synctest;

TEST_CASE("broadcast: every receiver sees every message, laggards are told", "[broadcast]") {
  auto tx = Broadcast<int>::create(4);
  auto a = tx.subscribe();
  auto b = tx.subscribe();
  for (int i = 0; i < 3; ++i) REQUIRE(tx.send(i) == ChannelStatus::ok);
  for (int i = 0; i < 3; ++i) {
    CHECK(a.try_recv().value == i);
    CHECK(b.try_recv().value == i);
  }
  for (int i = 3; i < 10; ++i) (void)tx.send(i);  // a reads nothing: it lags
  auto lag = a.try_recv();
  CHECK(lag.status == ChannelStatus::lagged);
  CHECK(lag.missed == 3);  // 3,4,5 overwritten; 6..9 kept
  CHECK(a.try_recv().value == 6);
  tx.close();
  CHECK(b.try_recv().status == ChannelStatus::lagged);
  for (int i = 6; i < 10; ++i) CHECK(b.try_recv().value == i);
  CHECK(b.try_recv().status == ChannelStatus::closed);
}

TEST_CASE("broadcast: parked receivers in both models all wake", "[broadcast]") {
  Watchdog wd("broadcast");
  Runtime rt(small_rt(2));
  auto tx = Broadcast<int>::create(64);
  std::vector<JoinHandle<long>> hs;
  for (int i = 0; i < 6; ++i) {
    auto rx = tx.subscribe();
    if (i % 2 == 0) {
      hs.push_back(rt.spawn([](BroadcastReceiver<int> rx) -> Task<long> {
        long s = 0;
        for (;;) {
          auto r = co_await rx.recv();
          if (r.status == ChannelStatus::closed) co_return s;
          if (r.ok()) s += *r.value;
        }
      }(std::move(rx))));
    } else {
      hs.push_back(rt.spawn(duet::stackful, [rx]() mutable {
        long s = 0;
        for (;;) {
          auto r = duet::wait(rx.recv());
          if (r.status == ChannelStatus::closed) return s;
          if (r.ok()) s += *r.value;
        }
      }));
    }
  }
  for (int i = 1; i <= 50; ++i) {
    (void)tx.send(i);
    if (i % 10 == 0) std::this_thread::sleep_for(1ms);
  }
  tx.close();
  for (auto& h : hs) CHECK(h.join() == 1275);  // capacity 64 > 50: nobody lags
}

TEST_CASE("watch: latest value, changed(), close", "[watch]") {
  Watchdog wd("watch");
  auto tx = Watch<int>::create(0);
  auto rx = tx.subscribe();
  CHECK_FALSE(rx.has_changed());
  CountingWaker cw;
  auto c = rx.changed();
  REQUIRE(poll_once(c, cw).is_pending());
  (void)tx.send(1);
  (void)tx.send(2);
  CHECK(cw.wakes.load() == 1);
  auto p = poll_once(c, cw);
  REQUIRE(p.is_ready());
  CHECK(p.value() == ChannelStatus::ok);
  CHECK(rx.borrow() == 2);  // intermediate values may be skipped
  Runtime rt(small_rt(2));
  auto h = rt.spawn(duet::stackful, [rx]() mutable {
    int last = -1;
    while (duet::wait(rx.changed()) == ChannelStatus::ok) last = rx.borrow();
    return last;
  });
  for (int i = 3; i <= 100; ++i) (void)tx.send(i);
  tx.close();
  CHECK(h.join() == 100);
}

TEST_CASE("broadcast and watch: dropping the last sender closes them", "[broadcast][watch]") {
  Watchdog wd("last sender");
  Runtime rt(small_rt(2));
  {
    auto rx = [] {
      auto tx = Broadcast<int>::create(4);
      auto copy = tx;  // two sender handles
      auto r = tx.subscribe();
      REQUIRE(copy.send(7) == ChannelStatus::ok);
      return r;  // both senders dropped here
    }();
    CHECK(rx.try_recv().value == 7);  // what was sent is still read
    CHECK(rx.try_recv().status == ChannelStatus::closed);
  }
  {
    auto tx = Watch<int>::create(0);
    auto rx = tx.subscribe();
    auto waiter = rt.spawn(duet::stackful, [rx]() mutable {
      int seen = 0;
      while (duet::wait(rx.changed()) == ChannelStatus::ok) ++seen;
      return seen;
    });
    REQUIRE(tx.send(1) == ChannelStatus::ok);
    { auto gone = std::move(tx); }  // the only sender: closes
    CHECK(waiter.join() <= 1);      // woken by the close, not left waiting
    // This receiver has not seen the last value yet: it gets it, then closed.
    CHECK(duet::wait(rx.changed()) == ChannelStatus::ok);
    CHECK(rx.borrow() == 1);
    CHECK(duet::wait(rx.changed()) == ChannelStatus::closed);
  }
}

TEST_CASE("broadcast: senders dropped on many threads close it exactly once",
          "[broadcast][stress]") {
  Watchdog wd("racing sender drops");
  for (int round = 0; round < (sanitized ? 20 : 200); ++round) {
    auto tx = Broadcast<int>::create(8);
    auto rx = tx.subscribe();
    std::vector<Broadcast<int>> copies(4, tx);
    std::vector<std::thread> ts;
    for (auto& c : copies) {
      ts.emplace_back([c = std::move(c)]() mutable {
        (void)c.send(1);
        auto gone = std::move(c);
      });
    }
    { auto gone = std::move(tx); }
    for (auto& t : ts) t.join();
    int got = 0;
    BroadcastRecv<int> r;
    while ((r = rx.try_recv()).ok()) got += *r.value;
    CHECK(got == 4);
    CHECK(r.status == ChannelStatus::closed);
  }
}

TEST_CASE("broadcast: a capacity of zero is an error", "[broadcast]") {
  CHECK_THROWS_AS(Broadcast<int>::create(0), std::invalid_argument);
  CHECK_NOTHROW(Broadcast<int>::create(1));
}

TEST_CASE("once_cell: one initialiser, everyone else waits, failure hands over", "[once_cell]") {
  Watchdog wd("once cell");
  Runtime rt(small_rt(2));
  OnceCell<int> cell;
  std::atomic<int> inits{0};
  std::vector<JoinHandle<int>> hs;
  for (int i = 0; i < 8; ++i) {
    if (i % 2 == 0) {
      hs.push_back(rt.spawn([](OnceCell<int>& cell, std::atomic<int>& inits) -> Task<int> {
        const int& v = co_await cell.get_or_init([&] {
          inits++;
          // Async init: the value comes from another task.
          return duet::spawn([]() -> Task<int> {
            co_await duet::sleep(5ms);
            co_return 42;
          }());
        });
        co_return v;
      }(cell, inits)));
    } else {
      hs.push_back(rt.spawn(duet::stackful, [&cell, &inits] {
        return duet::wait(cell.get_or_init([&] {
                 inits++;
                 return 42;
               }))
            .get();
      }));
    }
  }
  for (auto& h : hs) CHECK(h.join() == 42);
  CHECK(inits.load() == 1);
  CHECK(*cell.get() == 42);
  CHECK_FALSE(cell.set(1));

  OnceCell<int> c2;
  CHECK_THROWS(duet::wait(c2.get_or_init([]() -> int { throw std::runtime_error("no"); })));
  CHECK(c2.get() == nullptr);
  CHECK(duet::wait(c2.get_or_init([] { return 7; })).get() == 7);
}

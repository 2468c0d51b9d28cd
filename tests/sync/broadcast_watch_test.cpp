#include <catch2/catch.hpp>

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
  for (int i = 3; i < 10; ++i) tx.send(i);  // a reads nothing: it lags
  auto lag = a.try_recv();
  CHECK(lag.status == BroadcastStatus::lagged);
  CHECK(lag.missed == 3);  // 3,4,5 overwritten; 6..9 kept
  CHECK(a.try_recv().value == 6);
  tx.close();
  CHECK(b.try_recv().status == BroadcastStatus::lagged);
  for (int i = 6; i < 10; ++i) CHECK(b.try_recv().value == i);
  CHECK(b.try_recv().status == BroadcastStatus::closed);
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
          if (r.status == BroadcastStatus::closed) co_return s;
          if (r.ok()) s += *r.value;
        }
      }(std::move(rx))));
    } else {
      hs.push_back(rt.spawn(duet::stackful, [rx]() mutable {
        long s = 0;
        for (;;) {
          auto r = duet::wait(rx.recv());
          if (r.status == BroadcastStatus::closed) return s;
          if (r.ok()) s += *r.value;
        }
      }));
    }
  }
  for (int i = 1; i <= 50; ++i) {
    tx.send(i);
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
  tx.send(1);
  tx.send(2);
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
  for (int i = 3; i <= 100; ++i) tx.send(i);
  tx.close();
  CHECK(h.join() == 100);
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

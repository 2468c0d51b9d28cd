// Go channel semantics, one test per rule, in both models (coroutines and
// fibers), plus hand-driven futures for the waiter protocol's corner cases.
#include <catch2/catch.hpp>
#include <duet/channel/channel.hpp>
#include <duet/channel/oneshot.hpp>
#include <string>
#include <vector>

#include "sync_util.hpp"

using namespace duet;
using namespace duet::synctest;

TEST_CASE("channel: buffered FIFO, try_send/try_recv tiers", "[channel]") {
  auto ch = Channel<int>::bounded(2);
  CHECK(ch.try_send(1).ok());
  CHECK(ch.try_send(2).ok());
  auto full = ch.try_send(3);
  CHECK(full.status == ChannelStatus::would_block);
  CHECK(full.value == 3);  // the value comes back
  CHECK(ch.try_recv().value == 1);
  CHECK(ch.try_recv().value == 2);
  CHECK(ch.try_recv().status == ChannelStatus::would_block);
}

TEST_CASE("channel: close wakes every parked receiver at once", "[channel][go]") {
  Watchdog wd("close wakes receivers");
  Runtime rt(small_rt(2));
  auto ch = Channel<int>::bounded(1);
  std::vector<JoinHandle<bool>> hs;
  for (int i = 0; i < 8; ++i) {
    hs.push_back(rt.spawn([](Channel<int> ch) -> Task<bool> {
      auto v = co_await ch.recv();
      co_return v.has_value();
    }(ch)));
    hs.push_back(
        rt.spawn(duet::stackful, [ch]() mutable { return duet::wait(ch.recv()).has_value(); }));
  }
  REQUIRE(eventually([&] { return ch.waiters().first == 16; }));
  CHECK(ch.close() == ChannelStatus::ok);
  for (auto& h : hs) CHECK_FALSE(h.join());  // each sees "closed"
  CHECK(ch.waiters().first == 0);
}

TEST_CASE("channel: close wakes every parked sender with an error", "[channel][go]") {
  Watchdog wd("close wakes senders");
  Runtime rt(small_rt(2));
  auto ch = Channel<std::string>::bounded(0);
  std::vector<JoinHandle<std::string>> hs;
  for (int i = 0; i < 6; ++i) {
    hs.push_back(rt.spawn([](Channel<std::string> ch, int i) -> Task<std::string> {
      auto r = co_await ch.send("c" + std::to_string(i));
      co_return r.ok() ? std::string("sent") : *r.value;
    }(ch, i)));
    hs.push_back(rt.spawn(duet::stackful, [ch, i]() mutable {
      auto r = duet::wait(ch.send("f" + std::to_string(i)));
      TCHECK(r.status == ChannelStatus::closed);
      return r.ok() ? std::string("sent") : *r.value;
    }));
  }
  REQUIRE(eventually([&] { return ch.waiters().second == 12; }));
  ch.close();
  int i = 0;
  for (auto& h : hs) {
    std::string got = h.join();
    CHECK(got == (i % 2 == 0 ? "c" : "f") + std::to_string(i / 2));  // value handed back
    ++i;
  }
}

TEST_CASE("channel: receivers drain the buffer after close, then see closed", "[channel][go]") {
  auto ch = Channel<int>::bounded(4);
  for (int i = 0; i < 3; ++i) REQUIRE(ch.try_send(i).ok());
  REQUIRE(ch.close() == ChannelStatus::ok);
  Runtime rt(small_rt(1));
  auto h = rt.spawn([](Channel<int> ch) -> Task<std::vector<int>> {
    std::vector<int> got;
    while (auto v = co_await ch.recv()) got.push_back(*v);
    co_return got;
  }(ch));
  CHECK(h.join() == std::vector<int>{0, 1, 2});
  auto f = rt.spawn(duet::stackful, [ch]() mutable { return duet::wait(ch.recv()).has_value(); });
  CHECK_FALSE(f.join());
  CHECK(ch.try_recv().status == ChannelStatus::closed);
}

TEST_CASE("channel: send on a closed channel is an error value, not an abort", "[channel][go]") {
  auto ch = Channel<int>::unbounded();
  ch.close();
  auto r = ch.try_send(7);
  CHECK(r.status == ChannelStatus::closed);
  CHECK(r.value == 7);
  Runtime rt(small_rt(1));
  auto h = rt.spawn([](Channel<int> ch) -> Task<int> {
    auto r = co_await ch.send(9);
    co_return r.status == ChannelStatus::closed ? *r.value : -1;
  }(ch));
  CHECK(h.join() == 9);
  auto f = rt.spawn(duet::stackful, [ch]() mutable { return duet::wait(ch.send(3)).ok(); });
  CHECK_FALSE(f.join());
}

TEST_CASE("channel: closing twice is an error value", "[channel][go]") {
  auto ch = Channel<int>::bounded(1);
  CHECK(ch.close() == ChannelStatus::ok);
  CHECK(ch.close() == ChannelStatus::closed);
  CHECK(ch.is_closed());
}

TEST_CASE("channel: a nil channel never becomes ready and cannot be closed", "[channel][go]") {
  Channel<int> nil;
  CHECK(nil.is_nil());
  CHECK(nil.try_send(1).status == ChannelStatus::nil);
  CHECK(nil.try_recv().status == ChannelStatus::nil);
  CHECK(nil.close() == ChannelStatus::nil);
  CountingWaker cw;
  auto r = nil.recv();
  auto s = nil.send(1);
  CHECK(poll_once(r, cw).is_pending());
  CHECK(poll_once(s, cw).is_pending());
  CHECK(cw.refs.load() == 0);  // nothing registered anywhere
  Runtime rt(small_rt(1));
  auto h = rt.spawn([](Channel<int> nil) -> Task<bool> {
    auto v = co_await duet::timeout(5ms, nil.recv());
    co_return v.has_value();
  }(nil));
  CHECK_FALSE(h.join());
}

TEST_CASE("channel: zero capacity is a rendezvous", "[channel][go]") {
  auto ch = Channel<int>::bounded(0);
  CHECK(ch.try_send(1).status == ChannelStatus::would_block);  // nobody receives
  CHECK(ch.try_recv().status == ChannelStatus::would_block);
  CountingWaker cw;
  {
    // A parked receiver makes try_send succeed, straight into its future.
    auto r = ch.recv();
    REQUIRE(poll_once(r, cw).is_pending());
    CHECK(ch.try_send(5).ok());
    CHECK(cw.wakes.load() == 1);
    auto p = poll_once(r, cw);
    REQUIRE(p.is_ready());
    CHECK(p.value() == 5);
  }
  {
    // A parked sender: its send completes only when a receiver takes it.
    auto s = ch.send(6);
    REQUIRE(poll_once(s, cw).is_pending());
    CHECK(ch.size() == 0);
    auto got = ch.try_recv();
    CHECK(got.value == 6);
    REQUIRE(poll_once(s, cw).is_ready());
  }
  // Across tasks: a coroutine and a fiber meet.
  Runtime rt(small_rt(2));
  auto rx = rt.spawn([](Channel<int> ch) -> Task<int> {
    int sum = 0;
    for (int i = 0; i < 100; ++i) sum += *co_await ch.recv();
    co_return sum;
  }(ch));
  auto tx = rt.spawn(duet::stackful, [ch]() mutable {
    for (int i = 0; i < 100; ++i) (void)duet::wait(ch.send(i));
  });
  tx.join();
  CHECK(rx.join() == 4950);
}

TEST_CASE("channel: unbounded never blocks a sender", "[channel]") {
  auto ch = Channel<int>::unbounded();
  for (int i = 0; i < 10000; ++i) REQUIRE(ch.try_send(i).ok());
  CHECK(ch.size() == 10000);
  for (int i = 0; i < 10000; ++i) REQUIRE(ch.try_recv().value == i);
}

TEST_CASE("channel: a receiver handed a value and destroyed unseen gives it back", "[channel]") {
  auto ch = Channel<int>::bounded(1);
  CountingWaker cw;
  auto r2 = std::make_unique<Recv<int>>(ch.recv());
  {
    auto r1 = ch.recv();
    REQUIRE(poll_once(r1, cw).is_pending());
    REQUIRE(poll_once(*r2, cw).is_pending());
    REQUIRE(ch.try_send(1).ok());  // handed to r1 (first in line)
    REQUIRE(ch.try_send(2).ok());  // handed to r2
    REQUIRE(ch.try_send(3).ok());  // buffered
  }                                // r1 dies without looking: 1 goes back, to the front
  auto p = poll_once(*r2, cw);
  REQUIRE(p.is_ready());
  CHECK(p.value() == 2);
  CHECK(ch.try_recv().value == 1);
  CHECK(ch.try_recv().value == 3);
  CHECK(cw.refs.load() == 0);
}

TEST_CASE("channel: a withdrawn sender's value is not delivered", "[channel]") {
  auto ch = Channel<int>::bounded(0);
  CountingWaker cw;
  {
    auto s = ch.send(1);
    REQUIRE(poll_once(s, cw).is_pending());
    CHECK(ch.waiters().second == 1);
  }
  CHECK(ch.waiters().second == 0);
  CHECK(ch.try_recv().status == ChannelStatus::would_block);
  CHECK(cw.refs.load() == 0);
}

TEST_CASE("channel: stress, N producers x M consumers, both models, exactly once",
          "[channel][stress]") {
  Watchdog wd("channel stress");
  const int producers = 6, consumers = 4;
  const int per = sanitized ? 2000 : 20000;
  for (std::size_t cap : {std::size_t{0}, std::size_t{1}, std::size_t{16}, SIZE_MAX}) {
    Runtime rt(small_rt(2));
    auto ch = cap == SIZE_MAX ? Channel<int>::unbounded() : Channel<int>::bounded(cap);
    std::vector<std::atomic<int>> seen(static_cast<std::size_t>(producers * per));
    std::vector<JoinHandle<void>> ps;
    std::vector<JoinHandle<long>> cs;
    // Catch2 assertions are not thread-safe: tasks count failures instead.
    static std::atomic<int> send_failures{0};
    send_failures = 0;
    for (int p = 0; p < producers; ++p) {
      if (p % 2 == 0) {
        ps.push_back(rt.spawn([](Channel<int> ch, int p, int per) -> Task<void> {
          for (int i = 0; i < per; ++i) {
            if (!(co_await ch.send(p * per + i)).ok()) send_failures++;
          }
        }(ch, p, per)));
      } else {
        ps.push_back(rt.spawn(duet::stackful, [ch, p, per]() mutable {
          for (int i = 0; i < per; ++i) {
            if (!duet::wait(ch.send(p * per + i)).ok()) send_failures++;
          }
        }));
      }
    }
    for (int c = 0; c < consumers; ++c) {
      if (c % 2 == 0) {
        cs.push_back(
            rt.spawn([](Channel<int> ch, std::vector<std::atomic<int>>& seen) -> Task<long> {
              long n = 0;
              while (auto v = co_await ch.recv()) {
                seen[static_cast<std::size_t>(*v)].fetch_add(1);
                ++n;
              }
              co_return n;
            }(ch, seen)));
      } else {
        cs.push_back(rt.spawn(duet::stackful, [ch, &seen]() mutable {
          long n = 0;
          while (auto v = duet::wait(ch.recv())) {
            seen[static_cast<std::size_t>(*v)].fetch_add(1);
            ++n;
          }
          return n;
        }));
      }
    }
    for (auto& p : ps) p.join();
    ch.close();
    long total = 0;
    for (auto& c : cs) total += c.join();
    INFO("cap " << cap);
    CHECK(send_failures.load() == 0);
    CHECK(total == producers * per);
    int bad = 0;
    for (auto& s : seen) bad += s.load() != 1;
    CHECK(bad == 0);
  }
}

TEST_CASE("channel: plain threads and tasks share a channel", "[channel]") {
  Watchdog wd("threads");
  Runtime rt(small_rt(2));
  auto ch = Channel<int>::bounded(2);
  auto h = rt.spawn([](Channel<int> ch) -> Task<int> {
    int s = 0;
    while (auto v = co_await ch.recv()) s += *v;
    co_return s;
  }(ch));
  std::thread t([ch]() mutable {
    for (int i = 1; i <= 1000; ++i) (void)duet::wait(ch.send(i));
    ch.close();
  });
  t.join();
  CHECK(h.join() == 500500);
}

TEST_CASE("oneshot: value, dropped sender, dropped receiver", "[channel][oneshot]") {
  Runtime rt(small_rt(2));
  {
    auto [tx, rx] = oneshot<int>();
    std::atomic<int> parked{0};
    auto h = rt.spawn([](OneshotReceiver<int> rx, std::atomic<int>* p) -> Task<int> {
      co_return (co_await duet::test::note_pending(rx, p)).value_or(-1);
    }(std::move(rx), &parked));
    while (parked.load() == 0) std::this_thread::yield();  // the receiver waits
    CHECK(tx.send(42).ok());
    CHECK(h.join() == 42);
  }
  {
    auto [tx, rx] = oneshot<int>();
    auto h = rt.spawn(duet::stackful,
                      [rx = std::move(rx)]() mutable { return duet::wait(rx).has_value(); });
    { auto dead = std::move(tx); }
    CHECK_FALSE(h.join());
  }
  {
    auto [tx, rx] = oneshot<int>();
    { auto dead = std::move(rx); }
    CHECK(tx.is_closed());
    auto r = tx.send(1);
    CHECK(r.status == ChannelStatus::closed);
    CHECK(r.value == 1);
  }
  {
    auto [tx, rx] = oneshot<std::string>();
    CHECK(rx.try_recv().status == ChannelStatus::would_block);
    (void)tx.send("x");
    CHECK(rx.try_recv().value == "x");
  }
}

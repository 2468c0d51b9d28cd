// network_test.cpp: what the simulated network promises, on its clock: a
// link's latency, refused connects, partitions (connects time out, reads
// wait, retransmissions give up; one way only), held links (data waits,
// in order, until the release), crashes (resets; none across a
// partition), end of stream on close, a reset on close with unread bytes,
// simulated minutes on the paused clock, and reads and writes of no bytes
// (0 at once).
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <vector>

#include "sim_util.hpp"

using namespace duet::simtest;
using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

/// A listener on host `h` (made from a task of another host).
duet::Result<duet::net::TcpListener> listen_on(Host h, std::uint16_t port) {
  return duet::sim::as_host(
      h, [port] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(port)); });
}

/// A one-byte ping-pong server: answers each byte with one, until EOF.
duet::Task<void> pong_server(std::uint16_t port) {
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(port));
  if (!l) co_return;
  auto s = co_await l->accept();
  if (!s) co_return;
  std::byte b[1];
  while (true) {
    auto n = co_await s->read(b);
    if (!n || *n == 0) co_return;
    auto w = co_await s->write_all(b);
    if (!w) co_return;
  }
}

}  // namespace

TEST_CASE("latency on the sim clock equals the link's, in a fiber") {
  World w(WorldConfig{.seed = 11});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(7)});
  auto srv = w.spawn(b, pong_server(7000));
  w.run(a, duet::stackful, [b] {
    const duet::Instant t0 = duet::Clock::now();
    auto c = duet::wait(duet::net::TcpStream::connect(b.addr(7000)));
    REQUIRE(c);
    const duet::Instant t1 = duet::Clock::now();
    CHECK(near(t1 - t0, std::chrono::milliseconds(14)));  // SYN and SYN-ACK: one round trip
    std::byte x[1] = {std::byte{42}};
    for (int i = 0; i < 3; ++i) {
      const duet::Instant s0 = duet::Clock::now();
      REQUIRE(duet::wait(c->write_all(x)));
      auto n = duet::wait(c->read(x));
      REQUIRE(n);
      CHECK(*n == 1);
      CHECK(near(duet::Clock::now() - s0, std::chrono::milliseconds(14)));
    }
  });
  srv.cancel();
}

TEST_CASE("a connect to a port nobody listens on is refused after one round trip") {
  World w(WorldConfig{.seed = 12});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(5)});
  w.run(a, [](Host b) -> duet::Task<void> {
    const duet::Instant t0 = duet::Clock::now();
    auto c = co_await duet::net::TcpStream::connect(b.addr(81));
    REQUIRE_FALSE(c);
    CHECK(c.error() == code(ECONNREFUSED));
    CHECK(near(duet::Clock::now() - t0, std::chrono::milliseconds(10)));
  }(b));
}

TEST_CASE("across a partition a connect retransmits its SYN and times out") {
  World w(WorldConfig{.seed = 13});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  auto srv = w.spawn(b, pong_server(80));
  w.partition(a, b);
  w.run(a, [](Host b) -> duet::Task<void> {
    // No timeout of its own: the kernel's six SYN retransmissions, 1 s
    // doubling, then ETIMEDOUT at 127 s.
    const duet::Instant t0 = duet::Clock::now();
    auto c = co_await duet::net::TcpStream::connect(b.addr(80));
    REQUIRE_FALSE(c);
    CHECK(c.error() == code(ETIMEDOUT));
    CHECK(near(duet::Clock::now() - t0, std::chrono::seconds(127)));
    // With a timeout: it ends there.
    const duet::Instant t1 = duet::Clock::now();
    auto d = co_await duet::net::TcpStream::connect(b.addr(80), std::chrono::seconds(3));
    REQUIRE_FALSE(d);
    CHECK(d.error() == code(ETIMEDOUT));
    CHECK(near(duet::Clock::now() - t1, std::chrono::seconds(3)));
  }(b));
  // Repaired while its SYN is retransmitted: the retransmission at 3 s
  // gets through.
  w.run(a, [](World& w, Host a, Host b) -> duet::Task<void> {
    const duet::Instant t0 = duet::Clock::now();
    auto healer = duet::spawn([](World& w, Host a, Host b) -> duet::Task<void> {
      co_await duet::sleep(std::chrono::milliseconds(2500));
      w.repair(a, b);
    }(w, a, b));
    auto c = co_await duet::net::TcpStream::connect(b.addr(80));
    REQUIRE(c);
    CHECK(near(duet::Clock::now() - t0, std::chrono::seconds(3) + std::chrono::milliseconds(2)));
    co_await healer;
  }(w, a, b));
  srv.cancel();
}

TEST_CASE("a partition holds the bytes until repair, then the sender gives up") {
  World w(WorldConfig{.seed = 14});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.run(a, [](World& w, Host a, Host b) -> duet::Task<void> {
    auto l = listen_on(b, 90);
    REQUIRE(l);
    auto c = co_await duet::net::TcpStream::connect(b.addr(90));
    REQUIRE(c);
    auto s = co_await l->accept();
    REQUIRE(s);
    w.partition(a, b);
    const auto msg = bytes(100);
    // No co_await inside a Catch2 macro: it expands its argument more than
    // once, and GCC 12 runs each.
    auto w1 = co_await c->write_all(msg);  // taken by the socket buffer
    REQUIRE(w1);
    std::byte buf[200];
    // The reader waits: a read fails only by its own deadline.
    auto r = co_await duet::timeout(std::chrono::seconds(10), s->read(buf));
    CHECK_FALSE(r.has_value());
    w.repair(a, b);
    auto n = co_await s->read(buf);  // the retransmission gets through
    REQUIRE(n);
    CHECK(*n == 100);
    // Partitioned for good: after tcp_retries2 retransmissions the
    // sender's connection times out.
    w.partition(a, b);
    auto w2 = co_await c->write_all(msg);
    REQUIRE(w2);
    auto e = co_await c->read(buf);
    REQUIRE_FALSE(e);
    CHECK(e.error() == code(ETIMEDOUT));
  }(w, a, b));
}

TEST_CASE("a one-way partition loses one direction and lets the other cross") {
  World w(WorldConfig{.seed = 15});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.run(a, [](World& w, Host a, Host b) -> duet::Task<void> {
    auto l = listen_on(b, 91);
    REQUIRE(l);
    auto c = co_await duet::net::TcpStream::connect(b.addr(91));
    REQUIRE(c);
    auto s = co_await l->accept();
    REQUIRE(s);
    w.partition_one_way(a, b);
    const auto msg = bytes(50);
    auto w1 = co_await c->write_all(msg);  // a to b: lost, retransmitted
    REQUIRE(w1);
    auto w2 = co_await s->write_all(msg);  // b to a: crosses
    REQUIRE(w2);
    std::byte buf[100];
    auto at_a = co_await c->read(buf);
    REQUIRE(at_a);
    CHECK(*at_a == 50);
    auto at_b = co_await duet::timeout(std::chrono::seconds(10), s->read(buf));
    CHECK_FALSE(at_b.has_value());  // nothing from a yet
    w.repair(a, b);
    auto late = co_await s->read(buf);  // the retransmission gets through
    REQUIRE(late);
    CHECK(*late == 50);
  }(w, a, b));
}

TEST_CASE("a held link keeps its data in order without a timeout until the release") {
  World w(WorldConfig{.seed = 16});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(5)});
  w.run(a, [](World& w, Host a, Host b) -> duet::Task<void> {
    auto l = listen_on(b, 92);
    REQUIRE(l);
    auto c = co_await duet::net::TcpStream::connect(b.addr(92));
    REQUIRE(c);
    auto s = co_await l->accept();
    REQUIRE(s);
    w.hold(a, b);
    const auto one = bytes(30, 1);
    const auto two = bytes(40, 2);
    auto w1 = co_await c->write_all(one);
    REQUIRE(w1);
    auto w2 = co_await c->write_all(two);
    REQUIRE(w2);
    // Held for an hour: longer than every retransmission would take to
    // give up, yet the connection stays up.
    std::byte buf[100];
    auto none = co_await duet::timeout(std::chrono::hours(1), s->read(buf));
    CHECK_FALSE(none.has_value());
    const auto released = duet::Clock::now();
    w.release(a, b);
    std::vector<std::byte> got;
    while (got.size() < 70) {
      auto n = co_await s->read(buf);
      REQUIRE(n);
      REQUIRE(*n > 0);
      got.insert(got.end(), buf, buf + *n);
    }
    CHECK(duet::Clock::now() - released < kTicks);  // sent on at once
    std::vector<std::byte> want = one;
    want.insert(want.end(), two.begin(), two.end());
    CHECK(got == want);  // in order
    // The other direction was never held.
    auto back = co_await s->write_all(one);
    REQUIRE(back);
    auto n = co_await c->read(buf);
    REQUIRE(n);
    CHECK(*n == 30);
  }(w, a, b));
}

TEST_CASE("a crashed host resets its connections and answers nothing until restart") {
  World w(WorldConfig{.seed = 15});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(3)});
  auto srv = w.spawn(b, pong_server(80));
  w.run(a, [](World& w, Host b) -> duet::Task<void> {
    auto c = co_await duet::net::TcpStream::connect(b.addr(80));
    REQUIRE(c);
    auto crasher = duet::spawn([](World& w, Host b) -> duet::Task<void> {
      co_await duet::sleep(std::chrono::seconds(1));
      w.crash(b);
    }(w, b));
    const duet::Instant t0 = duet::Clock::now();
    std::byte buf[4];
    auto r = co_await c->read(buf);  // waits; the crash's reset ends it
    REQUIRE_FALSE(r);
    CHECK(r.error() == code(ECONNRESET));
    CHECK(near(duet::Clock::now() - t0, std::chrono::seconds(1) + std::chrono::milliseconds(3)));
    co_await crasher;
    // Down: a connect is never answered.
    auto d = co_await duet::net::TcpStream::connect(b.addr(80), std::chrono::seconds(5));
    REQUIRE_FALSE(d);
    CHECK(d.error() == code(ETIMEDOUT));
    // Restarted with nothing listening: refused.
    w.restart(b);
    auto e = co_await duet::net::TcpStream::connect(b.addr(80));
    REQUIRE_FALSE(e);
    CHECK(e.error() == code(ECONNREFUSED));
  }(w, b));
  srv.cancel();
}

TEST_CASE("close gives the peer end of stream, and a reset when bytes were left unread") {
  World w(WorldConfig{.seed = 16});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.run(a, duet::stackful, [b] {
    auto l = listen_on(b, 100);
    REQUIRE(l);
    auto c = duet::wait(duet::net::TcpStream::connect(b.addr(100)));
    REQUIRE(c);
    auto s = duet::wait(l->accept());
    REQUIRE(s);
    REQUIRE(duet::wait(s->write_all(bytes(10))));
    REQUIRE(s->close());
    std::byte buf[64];
    auto n = duet::wait(c->read(buf));
    REQUIRE(n);
    CHECK(*n == 10);
    n = duet::wait(c->read(buf));
    REQUIRE(n);
    CHECK(*n == 0);  // end of stream
    // The other way: bytes left unread when the reader closes.
    auto c2 = duet::wait(duet::net::TcpStream::connect(b.addr(100)));
    REQUIRE(c2);
    auto s2 = duet::wait(l->accept());
    REQUIRE(s2);
    REQUIRE(duet::wait(c2->write_all(bytes(10))));
    duet::wait(duet::sleep(std::chrono::milliseconds(50)));  // delivered, not read
    REQUIRE(s2->close());
    auto r = duet::wait(c2->read(buf));
    REQUIRE_FALSE(r);
    CHECK(r.error() == code(ECONNRESET));
  });
  CHECK(w.open_sockets() == 0);
}

TEST_CASE("ten simulated minutes of traffic pass on the paused clock") {
  World w(WorldConfig{.seed = 17});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b,
             {.latency = std::chrono::milliseconds(20), .jitter = std::chrono::milliseconds(5)});
  auto srv = w.spawn(b, pong_server(80));
  const duet::Instant t0 = duet::Clock::now();
  int pongs = w.run(a, [](Host b) -> duet::Task<int> {
    auto c = co_await duet::net::TcpStream::connect(b.addr(80));
    if (!c) co_return -1;
    int got = 0;
    for (int i = 0; i < 60; ++i) {
      co_await duet::sleep(std::chrono::seconds(10));
      std::byte x[1] = {std::byte{1}};
      auto w = co_await c->write_all(x);
      if (!w) co_return got;
      auto n = co_await c->read(x);
      if (!n || *n != 1) co_return got;
      ++got;
    }
    co_return got;
  }(b));
  CHECK(pongs == 60);
  CHECK(duet::Clock::now() - t0 >= std::chrono::minutes(10));
  srv.cancel();
}

TEST_CASE(
    "sim: a fiber's read across a partition fails by its deadline, and the bytes follow the "
    "repair") {
  World w(WorldConfig{.seed = 18});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.run(a, duet::stackful, [&w, a, b] {
    auto l = listen_on(b, 95);
    REQUIRE(l);
    auto c = duet::wait(duet::net::TcpStream::connect(b.addr(95)));
    REQUIRE(c);
    auto s = duet::wait(l->accept());
    REQUIRE(s);
    w.partition(a, b);
    REQUIRE(duet::wait(s->write_all(bytes(64))));
    std::byte buf[128];
    const duet::Instant t0 = duet::Clock::now();
    auto r = duet::wait(duet::timeout(std::chrono::seconds(2), c->read(buf)));
    CHECK_FALSE(r.has_value());
    CHECK(near(duet::Clock::now() - t0, std::chrono::seconds(2)));
    w.repair(a, b);
    auto n = duet::wait(c->read(buf));
    REQUIRE(n);
    CHECK(*n == 64);
    CHECK(std::equal(buf, buf + 64, bytes(64).begin()));
  });
}

TEST_CASE("sim: a crash's resets do not cross a partition: the peer learns at its next send") {
  World w(WorldConfig{.seed = 19});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(3)});
  w.run(b, [](World& w, Host a, Host b) -> duet::Task<void> {
    auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(96));
    REQUIRE(l);
    // a's client makes two connections (the second's SYN-ACK still on its
    // way at the crash) and reads until a's crash cancels it.
    duet::sim::spawn(a,
                     [](Host b) -> duet::Task<void> {
                       auto c1 = co_await duet::net::TcpStream::connect(b.addr(96));
                       if (!c1) co_return;
                       auto c2 = co_await duet::net::TcpStream::connect(b.addr(96));
                       if (!c2) co_return;
                       std::byte x[1];
                       (void)co_await c1->read(x);
                     }(b))
        .detach();
    auto s1 = co_await l->accept();
    REQUIRE(s1);
    auto s2 = co_await l->accept();
    REQUIRE(s2);
    duet::net::TcpStream* both[] = {&*s1, &*s2};
    w.partition(a, b);
    w.crash(a);
    // a's kernel resets its connections (and would reset the one whose
    // SYN-ACK comes late), but nothing crosses the cut: b's ends stay up.
    std::byte buf[16];
    for (duet::net::TcpStream* s : both) {
      auto r = co_await duet::timeout(std::chrono::seconds(10), s->read(buf));
      REQUIRE_FALSE(r);
      CHECK(duet::is_elapsed(r.error()));
    }
    // Restarted and repaired: the resets were lost, not held.
    w.restart(a);
    w.repair(a, b);
    for (duet::net::TcpStream* s : both) {
      auto r = co_await duet::timeout(std::chrono::seconds(10), s->read(buf));
      REQUIRE_FALSE(r);
      CHECK(r.error() == std::errc::timed_out);
    }
    // b's next send reaches a, whose kernel knows no such connection and
    // answers with a reset: one round trip.
    for (duet::net::TcpStream* s : both) {
      const duet::Instant t0 = duet::Clock::now();
      auto wr = co_await s->write_all(bytes(10));
      REQUIRE(wr);
      auto e = co_await s->read(buf);
      REQUIRE_FALSE(e);
      CHECK(e.error() == code(ECONNRESET));
      CHECK(near(duet::Clock::now() - t0, std::chrono::milliseconds(6)));
    }
  }(w, a, b));
}

namespace {

/// Reads and writes of no bytes on a connected stream with nothing to
/// read: each ends at once, with 0 (a coroutine's steps).
duet::Task<void> empty_transfers(duet::net::TcpListener* l, Host b) {
  auto c = co_await duet::net::TcpStream::connect(b.addr(97));
  REQUIRE(c);
  auto s = co_await l->accept();
  REQUIRE(s);
  const duet::Instant t0 = duet::Clock::now();
  auto n = co_await duet::timeout(std::chrono::seconds(1), c->read(std::span<std::byte>()));
  REQUIRE(n);
  CHECK(*n == 0);
  auto peek =
      co_await duet::timeout(std::chrono::seconds(1), c->recv(std::span<std::byte>(), MSG_PEEK));
  REQUIRE(peek);
  CHECK(*peek == 0);
  auto wr = co_await c->write(std::span<const std::byte>());
  REQUIRE(wr);
  CHECK(*wr == 0);
  auto all = co_await c->write_all(std::span<const std::byte>());
  CHECK(all.ok());
  CHECK(all.bytes == 0);
  CHECK(duet::Clock::now() == t0);  // none of them waited
  // The stream goes on: bytes sent after them arrive whole.
  auto sent = co_await s->write_all(bytes(5));
  REQUIRE(sent);
  std::byte buf[8];
  auto got = co_await c->read(buf);
  REQUIRE(got);
  CHECK(*got == 5);
}

}  // namespace

TEST_CASE("sim: a read into an empty buffer is 0 at once, in each model, and so is a write") {
  World w(WorldConfig{.seed = 20});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  auto l = listen_on(b, 97);
  REQUIRE(l);
  w.run(a, empty_transfers(&*l, b));
  w.run(a, duet::stackful, [&l, b] {
    auto c = duet::wait(duet::net::TcpStream::connect(b.addr(97)));
    REQUIRE(c);
    auto s = duet::wait(l->accept());
    REQUIRE(s);
    const duet::Instant t0 = duet::Clock::now();
    auto n = duet::wait(duet::timeout(std::chrono::seconds(1), c->read(std::span<std::byte>())));
    REQUIRE(n);
    CHECK(*n == 0);
    auto wr = duet::wait(c->write(std::span<const std::byte>()));
    REQUIRE(wr);
    CHECK(*wr == 0);
    auto all = duet::wait(c->write_all(std::span<const std::byte>()));
    CHECK(all.ok());
    CHECK(duet::Clock::now() == t0);
  });
}

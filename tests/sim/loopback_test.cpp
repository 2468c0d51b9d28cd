// loopback_test.cpp: 127.0.0.1 in the simulated world is each host's own
// loopback, as on Linux (docs/simulation.md): a listener or a datagram
// socket bound to it is reachable from its own host only (another host's
// 127.0.0.1 is that host's own), a connection over it names 127.0.0.1 at
// both ends (getsockname, getpeername, the accepted stream's peer), a
// datagram over it comes from 127.0.0.1, and a socket bound to it cannot
// send off its host (EINVAL).
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "sim_util.hpp"

using namespace duet::simtest;
using duet::net::SocketAddr;
using duet::net::TcpListener;
using duet::net::TcpStream;
using duet::net::UdpSocket;
using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

std::string local_of(const TcpStream& s) {
  auto a = s.local_addr();
  return a ? a->to_string() : a.error().message();
}
std::string peer_of(const TcpStream& s) {
  auto a = s.peer_addr();
  return a ? a->to_string() : a.error().message();
}

/// Accepts one connection on `l` and reports "local peer" of its stream.
duet::Task<std::string> accept_names(TcpListener* l) {
  auto s = co_await l->accept();
  if (!s) co_return "accept: " + s.error().message();
  co_return local_of(*s) + " " + peer_of(*s);
}

}  // namespace

TEST_CASE("sim: a TCP listener on 127.0.0.1 is reachable from its own host only") {
  World w(WorldConfig{.seed = 71});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(2)});
  auto on_b = duet::sim::as_host(b, [] { return TcpListener::bind(SocketAddr::v4_loopback(80)); });
  REQUIRE(on_b);
  CHECK(on_b->local_addr()->to_string() == "127.0.0.1:80");
  w.run(a, [](Host b) -> duet::Task<void> {
    // b's address: nobody listens on it (only on b's loopback).
    auto c = co_await TcpStream::connect(b.addr(80));
    REQUIRE_FALSE(c);
    CHECK(c.error() == code(ECONNREFUSED));
    // 127.0.0.1 from a is a's own loopback: refused there, at once.
    const duet::Instant t0 = duet::Clock::now();
    auto d = co_await TcpStream::connect(SocketAddr::v4_loopback(80));
    REQUIRE_FALSE(d);
    CHECK(d.error() == code(ECONNREFUSED));
    CHECK(duet::Clock::now() == t0);
  }(b));
  // From b itself, over its loopback: accepted.
  w.run(b, [](TcpListener* l) -> duet::Task<void> {
    auto names = duet::spawn(accept_names(l));
    auto c = co_await TcpStream::connect(SocketAddr::v4_loopback(80));
    REQUIRE(c);
    // No co_await inside a Catch2 macro: it expands its argument more than
    // once, and GCC 12 runs each.
    const std::string got = co_await names;
    CHECK(got.substr(0, 13) == "127.0.0.1:80 ");
  }(&*on_b));
}

TEST_CASE("sim: a host's own 127.0.0.1 takes the connect when two hosts listen on it") {
  World w(WorldConfig{.seed = 72});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  auto on_a = duet::sim::as_host(a, [] { return TcpListener::bind(SocketAddr::v4_loopback(80)); });
  auto on_b = duet::sim::as_host(b, [] { return TcpListener::bind(SocketAddr::v4_loopback(80)); });
  REQUIRE(on_a);
  REQUIRE(on_b);
  w.run(a, [](Host b, TcpListener* mine, TcpListener* theirs) -> duet::Task<void> {
    auto b_took = duet::sim::spawn(b, [](TcpListener* l) -> duet::Task<bool> {
      auto s = co_await duet::timeout(std::chrono::seconds(5), l->accept());
      co_return s.has_value();
    }(theirs));
    auto names = duet::spawn(accept_names(mine));
    auto c = co_await TcpStream::connect(SocketAddr::v4_loopback(80));
    REQUIRE(c);
    const std::string got = co_await names;
    CHECK(got.substr(0, 13) == "127.0.0.1:80 ");
    const bool b_got_it = co_await b_took;
    CHECK_FALSE(b_got_it);  // b's listener saw nothing
  }(b, &*on_a, &*on_b));
}

TEST_CASE("sim: a loopback connection names 127.0.0.1 at both ends, as Linux does") {
  World w(WorldConfig{.seed = 73});
  Host a = w.add_host("a");  // 10.0.0.1
  w.run(a, duet::stackful, [] {
    // A listener on every address: reached over the loopback, the
    // connection is 127.0.0.1's at both ends.
    auto l = TcpListener::bind(SocketAddr::v4_any(1738));
    REQUIRE(l);
    auto c = duet::wait(TcpStream::connect(SocketAddr::v4_loopback(1738)));
    REQUIRE(c);
    auto s = duet::wait(l->accept());
    REQUIRE(s);
    const std::uint16_t eph = c->local_addr()->port();
    CHECK(local_of(*c) == "127.0.0.1:" + std::to_string(eph));
    CHECK(peer_of(*c) == "127.0.0.1:1738");
    CHECK(local_of(*s) == "127.0.0.1:1738");
    CHECK(peer_of(*s) == "127.0.0.1:" + std::to_string(eph));
    // Reached at the host's address, it is that address's.
    auto c2 = duet::wait(TcpStream::connect(SocketAddr::v4((10u << 24) + 1, 1738)));
    REQUIRE(c2);
    auto s2 = duet::wait(l->accept());
    REQUIRE(s2);
    const std::uint16_t eph2 = c2->local_addr()->port();
    CHECK(local_of(*c2) == "10.0.0.1:" + std::to_string(eph2));
    CHECK(peer_of(*s2) == "10.0.0.1:" + std::to_string(eph2));
    CHECK(local_of(*s2) == "10.0.0.1:1738");
  });
}

TEST_CASE("sim: a UDP socket on 127.0.0.1 takes its own host's datagrams only") {
  World w(WorldConfig{.seed = 74});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  auto rx = duet::sim::as_host(b, [] { return UdpSocket::bind(SocketAddr::v4_loopback(53)); });
  REQUIRE(rx);
  CHECK(rx->local_addr()->to_string() == "127.0.0.1:53");
  // From a: to b's address, and to "127.0.0.1" (a's own loopback).
  w.run(a, [](Host b) -> duet::Task<void> {
    auto tx = UdpSocket::bind(SocketAddr::v4_any(0));
    REQUIRE(tx);
    const auto d = bytes(8);
    auto to_b = co_await tx->send_to(d, b.addr(53));
    REQUIRE(to_b);
    auto to_lo = co_await tx->send_to(d, SocketAddr::v4_loopback(53));
    REQUIRE(to_lo);
    // A socket bound to a's loopback cannot send off a (Linux: EINVAL).
    auto lo = UdpSocket::bind(SocketAddr::v4_loopback(0));
    REQUIRE(lo);
    auto off = co_await lo->send_to(d, b.addr(53));
    REQUIRE_FALSE(off);
    CHECK(off.error() == code(EINVAL));
  }(b));
  // From b itself: taken, from 127.0.0.1; nothing else came.
  w.run(b, [](UdpSocket* rx) -> duet::Task<void> {
    auto tx = UdpSocket::bind(SocketAddr::v4_any(0));
    REQUIRE(tx);
    const auto d = bytes(3, 7);
    auto sent = co_await tx->send_to(d, SocketAddr::v4_loopback(53));
    REQUIRE(sent);
    std::byte buf[64];
    auto r = co_await duet::timeout(std::chrono::seconds(1), rx->recv_from(buf));
    REQUIRE(r);
    CHECK(r->size == 3);
    CHECK(r->from.to_string() == "127.0.0.1:" + std::to_string(tx->local_addr()->port()));
    auto more = co_await duet::timeout(std::chrono::seconds(1), rx->recv_from(buf));
    REQUIRE_FALSE(more);
    CHECK(duet::is_elapsed(more.error()));
    // Connected over the loopback, the socket names 127.0.0.1.
    auto c = UdpSocket::bind(SocketAddr::v4_any(0));
    REQUIRE(c);
    REQUIRE(c->connect(SocketAddr::v4_loopback(53)));
    CHECK(c->local_addr()->to_string().substr(0, 10) == "127.0.0.1:");
    CHECK(c->peer_addr()->to_string() == "127.0.0.1:53");
  }(&*rx));
}

// ports_test.cpp: the simulated kernel's ephemeral ports
// (WorldConfig::ephemeral_ports, docs/simulation.md): a connect, a bind to
// port 0 and a datagram socket's first send take a port of the range,
// skipping the ones in use on the host and taking freed ones again once
// the range has wrapped; an exhausted range fails as Linux fails it
// (EADDRNOTAVAIL from a connect, EADDRINUSE from a bind); the same seed
// gives the same trace through the wrap.
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

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

/// Accepts connections on `port` and closes each at once, for ever.
duet::Task<void> accept_and_close(std::uint16_t port) {
  auto l = TcpListener::bind(SocketAddr::v4_any(port));
  if (!l) co_return;
  for (;;) {
    auto s = co_await l->accept();
    (void)s;  // dropped: closed
  }
}

/// What the sequential connections saw.
struct Sequential {
  std::string failure;        // empty: every connect succeeded
  std::uint16_t lowest = 0;   // the lowest local port seen
  std::uint16_t highest = 0;  // the highest
  std::size_t distinct = 0;   // how many different ports
  std::uint16_t first_after_wrap = 0;
  std::string fingerprint;
};

/// `count` connections from this host to `server`:80, one after another,
/// each closed before the next.
duet::Task<Sequential> connect_one_after_another(World* w, Host server, int count) {
  auto srv = duet::sim::spawn(server, accept_and_close(80));
  Sequential out;
  out.lowest = 65535;
  std::set<std::uint16_t> seen;
  for (int i = 0; i < count; ++i) {
    auto c = co_await TcpStream::connect(server.addr(80));
    if (!c) {
      out.failure = "connect " + std::to_string(i) + ": " + c.error().message();
      break;
    }
    const std::uint16_t p = c->local_addr()->port();
    out.lowest = std::min(out.lowest, p);
    out.highest = std::max(out.highest, p);
    if (!seen.insert(p).second && out.first_after_wrap == 0) out.first_after_wrap = p;
  }
  out.distinct = seen.size();
  srv.cancel();
  out.fingerprint = w->fingerprint();
  co_return out;
}

Sequential sequential(std::uint64_t seed, int count) {
  World w(WorldConfig{.seed = seed});
  Host client = w.add_host("client");
  Host server = w.add_host("server");
  return w.run(client, connect_one_after_another(&w, server, count));
}

}  // namespace

TEST_CASE("sim: 20,000 connections one after another each take a port of the ephemeral range") {
  // The default range is 49152-65535 (16,384 ports): the 16,385th
  // connection wraps to the range's start, whose port was freed long ago.
  const Sequential s = sequential(71, 20000);
  INFO(s.failure);
  REQUIRE(s.failure.empty());
  CHECK(s.lowest == 49152);
  CHECK(s.highest == 65535);
  CHECK(s.distinct == 16384);
  CHECK(s.first_after_wrap == 49152);
  // Through the wrap, the same seed gives the same trace.
  const Sequential again = sequential(71, 20000);
  CHECK(again.fingerprint == s.fingerprint);
}

TEST_CASE("sim: an exhausted ephemeral range fails as Linux does, and a freed port comes back") {
  WorldConfig cfg{.seed = 5};
  cfg.ephemeral_ports = {.first = 40000, .last = 40003};
  World w(cfg);
  Host client = w.add_host("client");
  Host server = w.add_host("server");
  auto srv = w.spawn(server, accept_and_close(80));
  w.run(client, [](Host server) -> duet::Task<void> {
    // A port bound by hand inside the range is skipped.
    auto held = TcpListener::bind(SocketAddr::v4_any(40001));
    REQUIRE(held);
    std::vector<TcpStream> open;
    std::set<std::uint16_t> ports;
    for (int i = 0; i < 3; ++i) {
      auto c = co_await TcpStream::connect(server.addr(80));
      REQUIRE(c);
      ports.insert(c->local_addr()->port());
      open.push_back(std::move(*c));
    }
    CHECK(ports == std::set<std::uint16_t>{40000, 40002, 40003});
    // Every port of the range in use: a connect cannot pick one
    // (EADDRNOTAVAIL), nor a bind to port 0 (EADDRINUSE), as on Linux.
    auto none = co_await TcpStream::connect(server.addr(80));
    REQUIRE_FALSE(none);
    CHECK(none.error() == code(EADDRNOTAVAIL));
    auto bound = TcpListener::bind(SocketAddr::v4_any(0));
    REQUIRE_FALSE(bound);
    CHECK(bound.error() == code(EADDRINUSE));
    // UDP has ports of its own: the range is free there.
    std::vector<UdpSocket> udp;
    for (int i = 0; i < 4; ++i) {
      auto u = UdpSocket::bind(SocketAddr::v4_any(0));
      REQUIRE(u);
      CHECK(u->local_addr()->port() >= 40000);
      CHECK(u->local_addr()->port() <= 40003);
      udp.push_back(std::move(*u));
    }
    auto fifth = UdpSocket::bind(SocketAddr::v4_any(0));
    REQUIRE_FALSE(fifth);
    CHECK(fifth.error() == code(EADDRINUSE));
    // A closed connection frees its port; the next connect takes it.
    const std::uint16_t freed = open[1].local_addr()->port();
    open.erase(open.begin() + 1);
    auto again = co_await TcpStream::connect(server.addr(80));
    REQUIRE(again);
    CHECK(again->local_addr()->port() == freed);
  }(server));
  srv.cancel();
}

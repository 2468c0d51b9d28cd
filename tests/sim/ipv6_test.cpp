// ipv6_test.cpp: IPv6 in the simulated world (docs/simulation.md,
// "Addresses"), as a dual-stack Linux host has it: hosts with IPv6
// addresses (fd00::N) and the resolver's AAAA answers; TCP and UDP over
// IPv6 in both models; a listener on :: taking IPv4 clients IPv4-mapped,
// and not with IPV6_V6ONLY (then 0.0.0.0 and :: share a port); ::1 as each
// host's own loopback; the errors of a family a socket or a host does not
// have; and a seed replaying an IPv6 run.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

#include "duet/dns/resolver.hpp"
#include "sim_util.hpp"

using namespace duet::simtest;
using duet::net::SocketAddr;
using duet::net::TcpListener;
using duet::net::TcpSocket;
using duet::net::TcpStream;
using duet::net::UdpSocket;
using duet::sim::Host;
using duet::sim::IpVersion;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

SocketAddr addr(const char* text) {
  auto a = SocketAddr::parse(text);
  REQUIRE(a);
  return *a;
}

std::string text_of(const duet::Result<SocketAddr>& a) {
  return a ? a->to_string() : a.error().message();
}

/// Accepts one connection on `l` and reports "local peer" of its stream.
duet::Task<std::string> accept_names(TcpListener* l) {
  auto s = co_await l->accept();
  if (!s) co_return "accept: " + s.error().message();
  co_return text_of(s->local_addr()) + " " + text_of(s->peer_addr());
}

/// A coroutine echo server on [::]:port (IPv6, and IPv4 mapped), every
/// connection at once, until it is cancelled.
duet::Task<void> echo_forever6(std::uint16_t port) {
  auto l = TcpListener::bind(addr(("[::]:" + std::to_string(port)).c_str()));
  if (!l) co_return;
  for (;;) {
    auto s = co_await l->accept();
    if (s) duet::spawn(coro_echo_conn(std::move(*s))).detach();
  }
}

duet::Result<TcpListener> bind_on(const SocketAddr& a, bool v6only) {
  auto s = TcpSocket::for_addr(a);
  if (!s) return s.error();
  if (a.family() == AF_INET6) {
    if (auto o = s->options().set_only_v6(v6only); !o) return o.error();
  }
  if (auto b = s->bind(a); !b) return b.error();
  return std::move(*s).listen();
}

}  // namespace

TEST_CASE("ipv6: a world's hosts take the addresses of its ip_version") {
  {
    World v4(WorldConfig{.seed = 1});
    CHECK(v4.add_host("a").addr(80).to_string() == "10.0.0.1:80");
  }
  {
    World v6(WorldConfig{.seed = 1, .ip_version = IpVersion::v6});
    Host a = v6.add_host("a");
    CHECK(a.addr(80).to_string() == "[fd00::1]:80");
    CHECK(a.addr_v6(80).to_string() == "[fd00::1]:80");
    CHECK_THROWS_AS(a.addr_v4(80), std::logic_error);
  }
  {
    World dual(WorldConfig{.seed = 1, .ip_version = IpVersion::dual});
    Host d = dual.add_host("d");
    CHECK(d.addr(80).to_string() == "10.0.0.1:80");
    CHECK(d.addr_v6(80).to_string() == "[fd00::1]:80");
    // A given address of either family; under dual the other family's
    // default beside it.
    Host e = dual.add_host("e", "fd00::99");
    CHECK(e.addr_v6(7).to_string() == "[fd00::99]:7");
    CHECK(e.addr_v4(7).to_string() == "10.0.0.2:7");
    CHECK_THROWS_AS(dual.add_host("f", "::1"), std::invalid_argument);
    CHECK_THROWS_AS(dual.add_host("f", "::"), std::invalid_argument);
    CHECK_THROWS_AS(dual.add_host("f", "fd00::99"), std::invalid_argument);
    CHECK_THROWS_AS(dual.add_host("f", "fd00::zz"), std::invalid_argument);
  }
  // A given address that a later host's default would take: that host is
  // refused with a clear error, not put at the same address.
  World taken(WorldConfig{.seed = 1, .ip_version = IpVersion::v6});
  (void)taken.add_host("x", "fd00::2");
  CHECK_THROWS_AS(taken.add_host("y"), std::invalid_argument);
}

TEST_CASE("ipv6: a coroutine echo between two IPv6 hosts names fd00 addresses at both ends") {
  World w(WorldConfig{.seed = 601, .ip_version = IpVersion::v6});
  Host client = w.add_host("client");
  Host server = w.add_host("server");
  w.set_link(client, server, {.latency = std::chrono::milliseconds(3)});
  auto l = duet::sim::as_host(server, [] { return TcpListener::bind(addr("[::]:443")); });
  REQUIRE(l);
  w.run(client, [](Host server, TcpListener* l) -> duet::Task<void> {
    auto names = duet::spawn(accept_names(l));
    const duet::Instant t0 = duet::Clock::now();
    auto c = co_await TcpStream::connect(server.addr(443));
    REQUIRE(c);
    CHECK(duet::Clock::now() - t0 >= std::chrono::milliseconds(6));  // a round trip on the link
    const std::uint16_t eph = c->local_addr()->port();
    CHECK(text_of(c->local_addr()) == "[fd00::1]:" + std::to_string(eph));
    CHECK(text_of(c->peer_addr()) == "[fd00::2]:443");
    const std::string got = co_await names;
    CHECK(got == "[fd00::2]:443 [fd00::1]:" + std::to_string(eph));
  }(server, &*l));
  const auto msg = bytes(3000, 6);
  w.spawn(server, echo_forever6(8080));
  auto got = w.run(client, coro_echo_client(server.addr(8080), msg));
  REQUIRE(got);
  CHECK(*got == msg);
}

TEST_CASE("ipv6: a fiber echoes UDP between IPv6 hosts and sees the sender's IPv6 address") {
  World w(WorldConfig{.seed = 602, .ip_version = IpVersion::v6});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  auto u = duet::sim::as_host(b, [] { return UdpSocket::bind(addr("[::]:5353")); });
  REQUIRE(u);
  w.spawn(b, duet::stackful, [u = std::move(*u)]() mutable {
    std::byte buf[64];
    auto d = duet::wait(u.recv_from(buf));
    if (d) (void)duet::wait(u.send_to(std::span(buf).first(d->size), d->from));
  });
  w.run(a, duet::stackful, [b] {
    auto c = UdpSocket::bind(addr("[::]:0"));
    REQUIRE(c);
    const auto msg = bytes(40, 7);
    REQUIRE(duet::wait(c->send_to(msg, b.addr(5353))));
    std::byte buf[64];
    auto d = duet::wait(c->recv_from(buf));
    REQUIRE(d);
    CHECK(d->size == 40);
    CHECK(d->from.to_string() == "[fd00::2]:5353");
    CHECK(text_of(c->local_addr()).substr(0, 10) == "[fd00::1]:");
  });
}

TEST_CASE("ipv6: a listener on :: takes IPv4 clients mapped, unless it is IPv6-only") {
  World w(WorldConfig{.seed = 603, .ip_version = IpVersion::dual});
  Host client = w.add_host("client");  // 10.0.0.1, fd00::1
  Host server = w.add_host("server");  // 10.0.0.2, fd00::2
  auto l = duet::sim::as_host(server, [] { return bind_on(addr("[::]:80"), false); });
  REQUIRE(l);
  // :: without IPV6_V6ONLY holds port 80 for IPv4 too.
  auto clash = duet::sim::as_host(server, [] { return TcpListener::bind(addr("0.0.0.0:80")); });
  REQUIRE_FALSE(clash);
  CHECK(clash.error() == code(EADDRINUSE));
  w.run(client, [](Host server, TcpListener* l) -> duet::Task<void> {
    auto names = duet::spawn(accept_names(l));
    auto c4 = co_await TcpStream::connect(server.addr_v4(80));
    REQUIRE(c4);
    const std::string eph4 = std::to_string(c4->local_addr()->port());
    CHECK(text_of(c4->local_addr()) == "10.0.0.1:" + eph4);
    const std::string got4 = co_await names;
    CHECK(got4 == "[::ffff:10.0.0.2]:80 [::ffff:10.0.0.1]:" + eph4);
    names = duet::spawn(accept_names(l));
    auto c6 = co_await TcpStream::connect(server.addr_v6(80));
    REQUIRE(c6);
    const std::string eph6 = std::to_string(c6->local_addr()->port());
    const std::string got6 = co_await names;
    CHECK(got6 == "[fd00::2]:80 [fd00::1]:" + eph6);
  }(server, &*l));

  // IPv6-only: :: and 0.0.0.0 share port 81, each taking its own family.
  auto only6 = duet::sim::as_host(server, [] { return bind_on(addr("[::]:81"), true); });
  REQUIRE(only6);
  auto only4 = duet::sim::as_host(server, [] { return TcpListener::bind(addr("0.0.0.0:81")); });
  REQUIRE(only4);
  w.run(client, [](Host server, TcpListener* l6, TcpListener* l4) -> duet::Task<void> {
    auto names4 = duet::spawn(accept_names(l4));
    auto names6 = duet::spawn(accept_names(l6));
    auto c4 = co_await TcpStream::connect(server.addr_v4(81));
    REQUIRE(c4);
    auto c6 = co_await TcpStream::connect(server.addr_v6(81));
    REQUIRE(c6);
    const std::string got4 = co_await names4;
    const std::string got6 = co_await names6;
    CHECK(got4.substr(0, 13) == "10.0.0.2:81 1");
    CHECK(got6.substr(0, 13) == "[fd00::2]:81 ");
    // An IPv6-only socket cannot reach an IPv4 address, even mapped.
    auto s = TcpSocket::v6();
    REQUIRE(s);
    REQUIRE(s->options().set_only_v6(true));
    auto c = co_await std::move(*s).connect(addr("[::ffff:10.0.0.2]:81"));
    REQUIRE_FALSE(c);
    CHECK(c.error() == code(ENETUNREACH));
  }(server, &*only6, &*only4));
}

TEST_CASE("ipv6: ::1 is each host's own loopback and names ::1 at both ends") {
  World w(WorldConfig{.seed = 604, .ip_version = IpVersion::v6});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  auto on_b = duet::sim::as_host(b, [] { return TcpListener::bind(SocketAddr::v6_loopback(80)); });
  REQUIRE(on_b);
  w.run(a, [](Host b) -> duet::Task<void> {
    auto c = co_await TcpStream::connect(b.addr(80));  // b's address: nobody listens there
    REQUIRE_FALSE(c);
    CHECK(c.error() == code(ECONNREFUSED));
    auto d = co_await TcpStream::connect(SocketAddr::v6_loopback(80));  // a's own ::1
    REQUIRE_FALSE(d);
    CHECK(d.error() == code(ECONNREFUSED));
  }(b));
  w.run(b, [](TcpListener* l) -> duet::Task<void> {
    auto names = duet::spawn(accept_names(l));
    auto c = co_await TcpStream::connect(SocketAddr::v6_loopback(80));
    REQUIRE(c);
    const std::string eph = std::to_string(c->local_addr()->port());
    CHECK(text_of(c->local_addr()) == "[::1]:" + eph);
    const std::string got = co_await names;
    CHECK(got == "[::1]:80 [::1]:" + eph);
    // 127.0.0.1 is not ::1: nobody listens on b's IPv4 loopback.
    auto d = co_await TcpStream::connect(SocketAddr::v4_loopback(80));
    REQUIRE_FALSE(d);
    CHECK(d.error() == code(ECONNREFUSED));
  }(&*on_b));
}

TEST_CASE("ipv6: a family a socket or its host has not fails as Linux does") {
  World w(WorldConfig{.seed = 605});  // IPv4 only
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.run(a, [](Host b) -> duet::Task<void> {
    // An IPv6 socket to an IPv6 address: the host has none (no route).
    auto c = co_await TcpStream::connect(addr("[fd00::2]:80"));
    REQUIRE_FALSE(c);
    CHECK(c.error() == code(ENETUNREACH));
    // An IPv4 socket to an IPv6 address, and a bind across families.
    auto s = TcpSocket::v4();
    REQUIRE(s);
    auto d = co_await std::move(*s).connect(addr("[fd00::2]:80"));
    REQUIRE_FALSE(d);
    CHECK(d.error() == code(EAFNOSUPPORT));
    auto s6 = TcpSocket::v6();
    REQUIRE(s6);
    auto bound = s6->bind(b.addr(80));
    REQUIRE_FALSE(bound);
    CHECK(bound.error() == code(EAFNOSUPPORT));
    // An IPv6 UDP socket reaches an IPv4 address mapped (Linux's
    // udpv6_sendmsg takes a sockaddr_in too).
    auto u = UdpSocket::bind(addr("[::]:0"));
    REQUIRE(u);
    const auto msg = bytes(8);
    auto sent = co_await u->send_to(msg, b.addr(9));
    REQUIRE(sent);
    CHECK(*sent == 8);
  }(b));
}

TEST_CASE("ipv6: the resolver answers AAAA and dns::connect reaches an IPv6 host") {
  World w(WorldConfig{.seed = 606, .ip_version = IpVersion::dual});
  Host client = w.add_host("client");
  Host server = w.add_host("server");
  auto l6 = duet::sim::as_host(server, [] { return bind_on(addr("[::]:7001"), true); });
  REQUIRE(l6);
  w.spawn(server, [](TcpListener l) -> duet::Task<void> {
    for (;;) {
      auto s = co_await l.accept();
      if (s) duet::spawn(coro_echo_conn(std::move(*s))).detach();
    }
  }(std::move(*l6)));
  w.run(client, []() -> duet::Task<void> {
    using duet::dns::Family;
    using duet::dns::Resolver;
    auto any = Resolver::create({});
    REQUIRE(any);
    auto both = co_await any->lookup("server", 7);
    REQUIRE(both);
    REQUIRE(both->size() == 2);
    CHECK((*both)[0].to_string() == "10.0.0.2:7");  // IPv4 first: fd00::/8's precedence is lower
    CHECK((*both)[1].to_string() == "[fd00::2]:7");
    auto v6 = Resolver::create({.family = Family::v6});
    REQUIRE(v6);
    auto six = co_await v6->lookup("server", 7);
    REQUIRE(six);
    REQUIRE(six->size() == 1);
    CHECK((*six)[0].to_string() == "[fd00::2]:7");
    auto local = co_await v6->lookup("localhost", 7);
    REQUIRE(local);
    CHECK((*local)[0].to_string() == "[::1]:7");
    // Happy Eyeballs starts with IPv6: the IPv6-only listener answers.
    auto c = co_await duet::dns::connect(*any, "server", 7001);
    REQUIRE(c);
    CHECK(text_of(c->peer_addr()) == "[fd00::2]:7001");
  }());
}

TEST_CASE("ipv6: an IPv6-only world has no A record") {
  // The v4 lookup finds the name, but no address of the family.
  World w6(WorldConfig{.seed = 607, .ip_version = IpVersion::v6});
  Host only = w6.add_host("only");
  (void)w6.add_host("other");
  w6.run(only, []() -> duet::Task<void> {
    auto v4 = duet::dns::Resolver::create({.family = duet::dns::Family::v4});
    REQUIRE(v4);
    auto r = co_await v4->lookup("other", 7);
    REQUIRE_FALSE(r);
    auto nx = co_await v4->lookup("nobody", 7);
    REQUIRE_FALSE(nx);
    CHECK(r.error() != nx.error());  // no data, not no such name
  }());
}

TEST_CASE("ipv6: a partition cuts IPv6 traffic, and a seed replays an IPv6 run") {
  auto run_once = [](std::uint64_t seed) {
    World w(WorldConfig{.seed = seed,
                        .link = {.latency = std::chrono::milliseconds(1),
                                 .jitter = std::chrono::milliseconds(2),
                                 .loss = 0.1},
                        .ip_version = IpVersion::v6});
    Host a = w.add_host("a");
    Host b = w.add_host("b");
    w.spawn(b, echo_forever6(9));
    auto ok = w.run(a, coro_echo_client(b.addr(9), bytes(20000, 9)));
    REQUIRE(ok);
    CHECK(ok->size() == 20000);
    w.partition(a, b);
    auto cut = w.run(a, [](Host b) -> duet::Task<std::error_code> {
      auto c = co_await TcpStream::connect(b.addr(9), std::chrono::seconds(2));
      co_return c ? std::error_code{} : c.error();
    }(b));
    CHECK(cut);  // the SYNs are lost: the connect times out
    return w.fingerprint();
  };
  const auto first = run_once(608);
  CHECK(run_once(608) == first);
  CHECK(run_once(609) != first);
}

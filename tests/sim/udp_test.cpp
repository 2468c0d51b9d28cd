// udp_test.cpp: UDP over the simulated network's virtual descriptors
// (net::UdpSocket, unchanged): datagrams keep their boundaries and their
// sender, a short buffer truncates one, nothing is retransmitted (a lossy
// link loses datagrams for good), reordering makes some late yet whole,
// and the same seed loses and reorders the same ones; a connected socket
// sends to its peer, drops others' datagrams and hears a port unreachable;
// the calls that do not wait (try_send_to, try_recv_from, try_send,
// try_recv) and the readiness waits (readable, writable) keep all of it,
// would-block under the spurious_eagain fault and a crashed host's ENETDOWN
// included, as the seed replays.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sim_util.hpp"

using namespace duet::simtest;
using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

/// A UDP socket bound on host `h`.
duet::Result<duet::net::UdpSocket> udp_on(Host h, std::uint16_t port) {
  return duet::sim::as_host(
      h, [port] { return duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(port)); });
}

/// Datagram `i`: 4 bytes of its number, then `i % 50` bytes of a pattern.
std::vector<std::byte> numbered(std::uint32_t i) {
  std::vector<std::byte> d = bytes(4 + i % 50, i);
  for (int k = 0; k < 4; ++k) d[static_cast<std::size_t>(k)] = std::byte((i >> (8 * k)) & 255);
  return d;
}

std::uint32_t number_of(const std::byte* d) {
  std::uint32_t i = 0;
  for (int k = 0; k < 4; ++k) i |= std::to_integer<std::uint32_t>(d[k]) << (8 * k);
  return i;
}

struct Received {
  std::vector<std::uint32_t> order;  // the numbers, in arrival order
  bool whole = true;                 // each datagram is the one sent
  std::string fingerprint;
};

/// Sends `count` numbered datagrams from host `a` to `b`:9000 at once and
/// receives on b until a second passes without one.
duet::Task<Received> send_and_collect(World* w, Host b, duet::net::UdpSocket rx, int count) {
  auto tx = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(0));
  Received out;
  if (!tx) co_return out;
  for (int i = 0; i < count; ++i) {
    const auto d = numbered(static_cast<std::uint32_t>(i));
    auto s = co_await tx->send_to(d, b.addr(9000));
    if (!s || *s != d.size()) out.whole = false;
  }
  std::byte buf[128];
  for (;;) {
    auto r = co_await duet::timeout(std::chrono::seconds(1), rx.recv_from(buf));
    if (!r) {
      // Quiet for a second: the rest is lost. Any other error is a bug.
      if (r.error() != std::errc::timed_out) out.whole = false;
      break;
    }
    const std::uint32_t i = number_of(buf);
    out.whole = out.whole && r->size == numbered(i).size() &&
                std::equal(buf, buf + r->size, numbered(i).begin());
    out.order.push_back(i);
  }
  out.fingerprint = w->fingerprint();
  co_return out;
}

Received udp_scenario(std::uint64_t seed, duet::sim::LinkConfig link, int count) {
  World w(WorldConfig{.seed = seed});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b, link);
  auto rx = udp_on(b, 9000);
  REQUIRE(rx);
  return w.run(a, send_and_collect(&w, b, std::move(*rx), count));
}

/// Sends three datagrams from host a's port 5353 to b:9000, one to a port
/// nobody bound, and one too large for IPv4.
duet::Task<void> udp_three_and_two_more(Host b) {
  auto tx = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(5353));
  REQUIRE(tx);
  const std::size_t sizes[] = {10, 200, 30};
  for (std::size_t n : sizes) {
    const auto d = bytes(n, static_cast<std::uint32_t>(n));
    auto s = co_await tx->send_to(d, b.addr(9000));
    REQUIRE(s);
    CHECK(*s == n);
  }
  // Nobody bound there: the datagram vanishes, and the sender is not told.
  const auto five = bytes(5);
  auto none = co_await tx->send_to(five, b.addr(9001));
  REQUIRE(none);
  // Larger than IPv4 carries.
  const auto huge = bytes(70000);
  auto big = co_await tx->send_to(huge, b.addr(9000));
  REQUIRE_FALSE(big);
  CHECK(big.error() == code(EMSGSIZE));
}

}  // namespace

TEST_CASE("sim: UDP datagrams keep their boundaries and sender, and a short buffer truncates") {
  World w(WorldConfig{.seed = 61});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(3)});
  auto rx = udp_on(b, 9000);
  REQUIRE(rx);
  // The receiver, a fiber on b; the sender, a coroutine on a, starts in it.
  w.run(b, duet::stackful, [&rx, a, b] {
    const duet::Instant t0 = duet::Clock::now();
    auto sender = duet::sim::spawn(a, udp_three_and_two_more(b));
    std::byte buf[256];
    auto d1 = duet::wait(rx->recv_from(buf));
    REQUIRE(d1);
    CHECK(near(duet::Clock::now() - t0, std::chrono::milliseconds(3)));
    CHECK(d1->size == 10);  // one datagram, not the bytes that followed it
    CHECK(d1->from == a.addr(5353));
    auto d2 = duet::wait(rx->recv_from(buf));
    REQUIRE(d2);
    CHECK(d2->size == 200);
    CHECK(std::equal(buf, buf + 200, bytes(200, 200).begin()));
    std::byte small[8];
    auto d3 = duet::wait(rx->recv_from(small));
    REQUIRE(d3);
    CHECK(d3->size == 8);  // truncated to the buffer
    CHECK(std::equal(small, small + 8, bytes(30, 30).begin()));
    // The rest of the truncated datagram is gone: nothing more comes.
    auto more = duet::wait(duet::timeout(std::chrono::seconds(1), rx->recv_from(buf)));
    CHECK_FALSE(more.has_value());
    sender.join();
  });
}

TEST_CASE("sim: a lossy link loses datagrams for good, in order, as the seed replays") {
  const duet::sim::LinkConfig lossy{
      .latency = std::chrono::milliseconds(2), .jitter = std::chrono::milliseconds(2), .loss = 0.3};
  const Received a = udp_scenario(62, lossy, 100);
  INFO(a.fingerprint);
  CHECK(a.whole);
  CHECK(a.order.size() > 40);
  CHECK(a.order.size() < 100);                            // lost, never retransmitted
  CHECK(std::is_sorted(a.order.begin(), a.order.end()));  // jitter alone keeps the order
  const Received b = udp_scenario(62, lossy, 100);
  CHECK(b.order == a.order);
  CHECK(b.fingerprint == a.fingerprint);
}

TEST_CASE("sim: reordering makes some datagrams late, each whole, as the seed replays") {
  const duet::sim::LinkConfig shuffled{.latency = std::chrono::milliseconds(5), .reorder = 0.3};
  const Received a = udp_scenario(63, shuffled, 50);
  INFO(a.fingerprint);
  CHECK(a.whole);
  REQUIRE(a.order.size() == 50);  // nothing lost
  CHECK_FALSE(std::is_sorted(a.order.begin(), a.order.end()));
  std::vector<std::uint32_t> sorted = a.order;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 50; ++i) CHECK(sorted[i] == i);  // each once
  const Received b = udp_scenario(63, shuffled, 50);
  CHECK(b.order == a.order);
  CHECK(b.fingerprint == a.fingerprint);
}

namespace {

/// What connected UDP showed on the world (each true when it held).
struct Connected {
  bool to_peer = false;          // send() reached b, from a's port
  bool filtered = false;         // a's recv() took b's datagram, not c's sent first
  bool refused = false;          // a send to a port nobody bound: the next recv refused
  bool refused_on_time = false;  // after the round trip (4 ms each way)
  bool once = false;             // the refusal reported once: a send goes out again
  bool no_peer = false;          // unconnected: send() has no destination
  std::string fingerprint;
};

/// On host a: a UDP socket on port 7000 connected to b:9000, while c:9100
/// sends to it too; then connected to b:9001, where nobody is bound.
duet::Task<Connected> connected_udp(World* w, Host a, Host b, duet::net::UdpSocket rx,
                                    duet::net::UdpSocket stranger) {
  Connected out;
  auto tx = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(7000));
  if (!tx) co_return out;
  const auto d = bytes(12, 1);
  auto unconnected = co_await tx->send(d);
  out.no_peer = !unconnected && unconnected.error() == code(EDESTADDRREQ);
  auto cr = tx->connect(b.addr(9000));
  if (!cr) co_return out;
  auto s = co_await tx->send(d);
  std::byte buf[64];
  auto r = co_await rx.recv_from(buf);
  out.to_peer = s && r && r->size == 12 && r->from.port() == 7000;
  // c's datagram first, then b's: a's recv() sees b's only.
  const auto other = bytes(5, 2);
  const auto mine = bytes(7, 3);
  auto so = co_await stranger.send_to(other, a.addr(7000));
  auto sm = co_await rx.send_to(mine, a.addr(7000));
  auto got = co_await tx->recv(buf);
  out.filtered = so && sm && got && *got == 7 && std::equal(buf, buf + 7, mine.begin());
  // Nobody at b:9001: the port unreachable comes back after the round trip.
  auto cr2 = tx->connect(b.addr(9001));
  if (!cr2) co_return out;
  const duet::Instant t0 = duet::Clock::now();
  auto lost = co_await tx->send(d);
  auto refused = co_await tx->recv(buf);
  out.refused = lost && !refused && refused.error() == code(ECONNREFUSED);
  out.refused_on_time = near(duet::Clock::now() - t0, std::chrono::milliseconds(8));
  auto cr3 = tx->connect(b.addr(9000));
  if (!cr3) co_return out;
  auto again = co_await tx->send(d);
  auto back = co_await rx.recv_from(buf);
  out.once = again && back && back->size == 12;
  out.fingerprint = w->fingerprint();
  co_return out;
}

Connected connected_scenario(std::uint64_t seed) {
  World w(WorldConfig{.seed = seed});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  Host c = w.add_host("c");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(4)});
  auto rx = udp_on(b, 9000);
  auto stranger = udp_on(c, 9100);
  REQUIRE(rx);
  REQUIRE(stranger);
  return w.run(a, connected_udp(&w, a, b, std::move(*rx), std::move(*stranger)));
}

}  // namespace

TEST_CASE("sim: connected UDP sends to its peer, takes only its datagrams and hears refusals") {
  const Connected x = connected_scenario(17);
  INFO(x.fingerprint);
  CHECK(x.no_peer);
  CHECK(x.to_peer);
  CHECK(x.filtered);
  CHECK(x.refused);
  CHECK(x.refused_on_time);
  CHECK(x.once);
  CHECK(connected_scenario(17).fingerprint == x.fingerprint);
}

namespace {

bool would_block(const std::error_code& e) {
  return duet::net::would_block(e);
}

/// On host a, port 5353: writable() at once, then two datagrams (10 and
/// 30 bytes) to b:9000 sent without waiting.
duet::Task<void> try_sender(Host b) {
  auto tx = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(5353));
  REQUIRE(tx);
  const duet::Instant t0 = duet::Clock::now();
  auto w = co_await tx->writable();
  REQUIRE(w);
  CHECK(w->writable());
  CHECK(duet::Clock::now() == t0);  // a datagram socket takes one at once
  const std::size_t sizes[] = {10, 30};
  for (std::size_t n : sizes) {
    const auto d = bytes(n, static_cast<std::uint32_t>(n));
    auto s = tx->try_send_to(d, b.addr(9000));
    REQUIRE(s);
    CHECK(*s == n);
  }
}

}  // namespace

TEST_CASE("sim: UDP try_recv_from would block, readable waits and takes nothing, try_send_to") {
  World w(WorldConfig{.seed = 64});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(3)});
  auto rx = udp_on(b, 9000);
  REQUIRE(rx);
  // The receiver, a fiber on b; the sender, a coroutine on a.
  w.run(b, duet::stackful, [&rx, a, b] {
    std::byte buf[64];
    auto none = rx->try_recv_from(buf);
    REQUIRE_FALSE(none);
    CHECK(would_block(none.error()));
    const duet::Instant t0 = duet::Clock::now();
    auto sender = duet::sim::spawn(a, try_sender(b));
    auto r = duet::wait(rx->readable());
    REQUIRE(r);
    CHECK(r->readable());
    CHECK(near(duet::Clock::now() - t0, std::chrono::milliseconds(3)));
    auto again = duet::wait(rx->readable());  // nothing was taken
    REQUIRE(again);
    CHECK(again->readable());
    auto d1 = rx->try_recv_from(buf);
    REQUIRE(d1);
    CHECK(d1->size == 10);
    CHECK(d1->from == a.addr(5353));
    CHECK(std::equal(buf, buf + 10, bytes(10, 10).begin()));
    REQUIRE(duet::wait(rx->readable()));
    std::byte small[8];
    auto d2 = rx->try_recv(small);
    REQUIRE(d2);
    CHECK(*d2 == 8);  // truncated to the buffer, the rest gone
    CHECK(std::equal(small, small + 8, bytes(30, 30).begin()));
    auto drained = rx->try_recv(buf);
    REQUIRE_FALSE(drained);
    CHECK(would_block(drained.error()));
    sender.join();
  });
}

namespace {

/// What connected UDP without waiting showed (each true when it held).
struct TryConnected {
  bool no_peer = false;          // unconnected: try_send has no destination
  bool filtered = false;         // try_recv took b's datagram, not c's sent first
  bool refused = false;          // readable() ended on the port unreachable, try_recv refused
  bool refused_on_time = false;  // after the round trip (4 ms each way)
  bool once = false;             // reported once: would-block next, and a send goes out
  std::string fingerprint;
};

/// On host a: a UDP socket on port 7000 connected to b:9000 while c:9100
/// sends to it too; then connected to b:9001, where nobody is bound.
duet::Task<TryConnected> try_connected(World* w, Host a, Host b, duet::net::UdpSocket rx,
                                       duet::net::UdpSocket stranger) {
  TryConnected out;
  auto tx = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(7000));
  if (!tx) co_return out;
  const auto d = bytes(12, 1);
  auto unconnected = tx->try_send(d);
  out.no_peer = !unconnected && unconnected.error() == code(EDESTADDRREQ);
  if (!tx->connect(b.addr(9000))) co_return out;
  std::byte buf[64];
  auto so = stranger.try_send_to(bytes(5, 2), a.addr(7000));
  const auto mine = bytes(7, 3);
  auto sm = rx.try_send_to(mine, a.addr(7000));
  auto ready = co_await tx->readable();
  auto got = tx->try_recv(buf);
  auto rest = tx->try_recv(buf);
  out.filtered = so && sm && ready && got && *got == 7 && std::equal(buf, buf + 7, mine.begin()) &&
                 !rest && would_block(rest.error());
  if (!tx->connect(b.addr(9001))) co_return out;
  const duet::Instant t0 = duet::Clock::now();
  auto lost = tx->try_send(d);
  auto err = co_await tx->readable();
  auto refused = tx->try_recv(buf);
  out.refused = lost && err && err->error() && !refused && refused.error() == code(ECONNREFUSED);
  out.refused_on_time = near(duet::Clock::now() - t0, std::chrono::milliseconds(8));
  auto after = tx->try_recv(buf);
  if (!tx->connect(b.addr(9000))) co_return out;
  auto again = tx->try_send(d);
  auto back = co_await rx.recv_from(buf);
  out.once = !after && would_block(after.error()) && again && back && back->size == 12;
  out.fingerprint = w->fingerprint();
  co_return out;
}

TryConnected try_connected_scenario(std::uint64_t seed) {
  World w(WorldConfig{.seed = seed});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  Host c = w.add_host("c");
  w.set_link(a, b, {.latency = std::chrono::milliseconds(4)});
  auto rx = udp_on(b, 9000);
  auto stranger = udp_on(c, 9100);
  REQUIRE(rx);
  REQUIRE(stranger);
  return w.run(a, try_connected(&w, a, b, std::move(*rx), std::move(*stranger)));
}

}  // namespace

TEST_CASE("sim: connected UDP try_send and try_recv: the peer only, the refusal once") {
  const TryConnected x = try_connected_scenario(18);
  INFO(x.fingerprint);
  CHECK(x.no_peer);
  CHECK(x.filtered);
  CHECK(x.refused);
  CHECK(x.refused_on_time);
  CHECK(x.once);
  CHECK(try_connected_scenario(18).fingerprint == x.fingerprint);
}

namespace {

struct TryLoop {
  std::vector<std::uint32_t> order;  // the numbers received
  int send_blocks = 0;               // try_send_to's would-blocks
  int recv_blocks = 0;               // try_recv_from's would-blocks
  std::string fingerprint;
};

/// On host a, a coroutine: `count` numbered datagrams to b:9000, each sent
/// with Tokio's loop (writable(), then try_send_to until it is taken).
duet::Task<void> try_send_all(Host b, int count, int* blocks) {
  auto tx = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(0));
  REQUIRE(tx);
  for (int i = 0; i < count; ++i) {
    const auto d = numbered(static_cast<std::uint32_t>(i));
    for (;;) {
      REQUIRE(co_await tx->writable());
      auto s = tx->try_send_to(d, b.addr(9000));
      if (s) break;
      REQUIRE(would_block(s.error()));
      ++*blocks;
    }
  }
}

/// On host b, a fiber: the sender on a, and every datagram received with
/// Tokio's loop (readable(), then try_recv_from until would-block).
TryLoop try_loop(std::uint64_t seed, int count) {
  WorldConfig cfg{.seed = seed};
  cfg.faults.spurious_eagain = 0.5;
  World w(cfg);
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b,
             {.latency = std::chrono::milliseconds(2), .jitter = std::chrono::milliseconds(2)});
  auto rx = udp_on(b, 9000);
  REQUIRE(rx);
  return w.run(b, duet::stackful, [&] {
    TryLoop out;
    auto sender = duet::sim::spawn(a, try_send_all(b, count, &out.send_blocks));
    std::byte buf[128];
    while (out.order.size() < static_cast<std::size_t>(count)) {
      REQUIRE(duet::wait(rx->readable()));
      auto d = rx->try_recv_from(buf);
      if (!d) {
        REQUIRE(would_block(d.error()));
        ++out.recv_blocks;
        continue;
      }
      const std::uint32_t i = number_of(buf);
      CHECK(d->size == numbered(i).size());
      out.order.push_back(i);
    }
    sender.join();
    out.fingerprint = w.fingerprint();
    return out;
  });
}

}  // namespace

TEST_CASE(
    "sim: UDP try calls under spurious_eagain would block, lose nothing, as the seed replays") {
  const TryLoop x = try_loop(65, 40);
  INFO(x.fingerprint);
  REQUIRE(x.order.size() == 40);
  std::vector<std::uint32_t> sorted = x.order;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 40; ++i) CHECK(sorted[i] == i);  // each once
  CHECK(x.send_blocks > 0);
  CHECK(x.recv_blocks > 0);
  const TryLoop y = try_loop(65, 40);
  CHECK(y.order == x.order);
  CHECK(y.send_blocks == x.send_blocks);
  CHECK(y.recv_blocks == x.recv_blocks);
  CHECK(y.fingerprint == x.fingerprint);
}

TEST_CASE("sim: UDP try calls on a crashed host fail with ENETDOWN, as the driver's path does") {
  World w(WorldConfig{.seed = 66});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  auto rx = udp_on(b, 9000);
  REQUIRE(rx);
  w.crash(b);
  std::byte buf[16];
  auto r = rx->try_recv_from(buf);
  REQUIRE_FALSE(r);
  CHECK(r.error() == code(ENETDOWN));
  auto s = rx->try_send_to(bytes(4), a.addr(9000));
  REQUIRE_FALSE(s);
  CHECK(s.error() == code(ENETDOWN));
  auto waited = w.run(a, rx->readable());  // a poll future, on a host that is up
  REQUIRE_FALSE(waited);
  CHECK(waited.error() == code(ENETDOWN));
}

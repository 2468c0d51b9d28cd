// udp_test.cpp: UDP over the simulated network's virtual descriptors
// (net::UdpSocket, unchanged): datagrams keep their boundaries and their
// sender, a short buffer truncates one, nothing is retransmitted (a lossy
// link loses datagrams for good), reordering makes some late yet whole,
// and the same seed loses and reorders the same ones.
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
duet::io::Result<duet::net::UdpSocket> udp_on(Host h, std::uint16_t port) {
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

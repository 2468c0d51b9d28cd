// world_test.cpp: the world as its test's thread drives it: time stands
// still between the test's waits (so a crash, a restart or a read of the
// trace from the test's thread lands where the seed says: turmoil's UDP
// bounce test, ported, replays); the controls turmoil's tests use (bounce,
// is_up, the hosts and their names, a one-way repair); duet/random.hpp's
// draws replayed by the seed (a retry loop whose random back-off finds a
// planted double-apply); and duet/buggify.hpp's fault points (never
// outside a world; by the seed inside one, finding a planted bug in a
// retry path and replaying it).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "duet/buggify.hpp"
#include "duet/random.hpp"
#include "sim_util.hpp"

using namespace duet::simtest;
using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

namespace world_test {

using ms = std::chrono::milliseconds;

/// A UDP echo service on port 7 of its host: answers each datagram with
/// the same bytes, until its host crashes.
duet::Task<void> udp_echo(duet::net::UdpSocket u) {
  std::byte buf[256];
  for (;;) {
    auto d = co_await u.recv_from(buf);
    if (!d) co_return;
    (void)co_await u.send_to(std::span(buf, d->size), d->from);
  }
}

/// Sends `text` to `to` and waits up to 1 s for the echo: the echo's text,
/// or empty.
duet::Task<std::string> udp_ping(duet::net::SocketAddr to, std::string text) {
  auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(0));
  if (!u) co_return "";
  auto s = co_await u->send_to(std::as_bytes(std::span(text.data(), text.size())), to);
  if (!s) co_return "";
  char buf[256];
  auto d = co_await duet::timeout(std::chrono::seconds(1),
                                  u->recv_from(std::as_writable_bytes(std::span(buf))));
  if (!d) co_return "";
  co_return std::string(buf, d->size);
}

/// Background traffic between two more hosts: `rounds` pings of y's UDP
/// echo from x, one after another, each a few trace events. While it runs
/// the world always has something in flight, so a world that moved on its
/// own between the test's calls would be caught mid-way.
void start_chatter(World& w, int rounds) {
  Host x = w.add_host("x");
  Host y = w.add_host("y");
  auto u = duet::sim::as_host(
      y, [] { return duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(7)); });
  REQUIRE(u);
  w.spawn(y, udp_echo(std::move(*u))).detach();
  w.spawn(x,
          [](duet::net::SocketAddr to, int rounds) -> duet::Task<void> {
            for (int i = 0; i < rounds; ++i) (void)co_await udp_ping(to, "chatter");
          }(y.addr(7), rounds))
      .detach();
}

struct BounceRun {
  std::vector<std::string> answers;
  std::vector<std::string> fingerprints;  // read from the test's thread after each step
  int boots = 0;
  bool operator==(const BounceRun&) const = default;
};

/// turmoil's UDP bounce test: a server whose boot binds and serves; three
/// runs from the test's thread, each followed by a crash and a restart of
/// the server from the test's thread.
BounceRun bounce_scenario(std::uint64_t seed) {
  World w(WorldConfig{.seed = seed, .link = {.latency = ms(2), .jitter = ms(1)}});
  Host client = w.add_host("client");
  Host server = w.add_host("server");
  start_chatter(w, 100000);
  BounceRun out;
  w.on_boot(server, [&w, server, &out] {
    ++out.boots;
    auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(7));
    REQUIRE(u);
    w.spawn(server, udp_echo(std::move(*u))).detach();
  });
  for (int i = 0; i < 3; ++i) {
    out.answers.push_back(w.run(client, udp_ping(server.addr(7), "ping " + std::to_string(i))));
    out.fingerprints.push_back(w.fingerprint());
    w.crash(server);
    out.fingerprints.push_back(w.fingerprint());
    w.restart(server);
    out.fingerprints.push_back(w.fingerprint());
  }
  return out;
}

TEST_CASE("sim: a UDP server bounced from the test's thread between runs replays under one seed") {
  const BounceRun first = bounce_scenario(11);
  CHECK(first.boots == 4);
  CHECK(first.answers == std::vector<std::string>{"ping 0", "ping 1", "ping 2"});
  for (int i = 0; i < 4; ++i) CHECK(bounce_scenario(11) == first);
  CHECK(bounce_scenario(12).fingerprints != first.fingerprints);
}

TEST_CASE("sim: the world's clock stands still between the test's waits and run_for moves it") {
  World w(WorldConfig{.seed = 5});
  Host a = w.add_host("a");
  bool woke = false;
  const duet::Instant t0 = w.now();
  w.spawn(a,
          [](bool& woke) -> duet::Task<void> {
            co_await duet::sleep(std::chrono::seconds(1));
            woke = true;
          }(woke))
      .detach();
  w.settle();
  CHECK(w.now() == t0);  // nothing waits on the world: it stands still
  CHECK_FALSE(woke);
  w.run_for(ms(999));
  CHECK_FALSE(woke);
  w.run_for(ms(2));
  CHECK(woke);
  CHECK(near(w.now() - t0, ms(1001)));
  // A run moves the clock only as far as its task needs: the instant its
  // task ended is the instant the test's thread then reads.
  const duet::Instant end = w.run(a, []() -> duet::Task<duet::Instant> {
    co_await duet::sleep(ms(30));
    co_return duet::Clock::now();
  }());
  CHECK(w.now() == end);
}

TEST_CASE("sim: a fingerprint read from the test's thread after a run replays") {
  auto once = [](std::uint64_t seed) {
    World w(WorldConfig{.seed = seed, .link = {.latency = ms(3), .jitter = ms(2)}});
    Host c = w.add_host("client");
    Host s = w.add_host("server");
    start_chatter(w, 100000);
    auto srv = w.spawn(s, coro_echo_server(80, 1));
    auto got = w.run(c, coro_echo_client(s.addr(80), bytes(3000)));
    REQUIRE(got);
    // The server's close and the last segments are still in flight: the
    // world stands still, so this read lands at the same point each run.
    std::string fp = w.fingerprint();
    srv.join();
    return fp + " / " + w.fingerprint();
  };
  const std::string first = once(21);
  for (int i = 0; i < 5; ++i) CHECK(once(21) == first);
}

TEST_CASE("sim: hosts, lookup and is_up describe the world, bounce and repair_one_way act on it") {
  World w(WorldConfig{.seed = 2});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  CHECK(w.hosts() == std::vector<Host>{a, b});
  CHECK(w.lookup("b") == std::optional<Host>(b));
  CHECK_FALSE(w.lookup("c").has_value());
  CHECK(w.is_up(b));
  w.crash(b);
  CHECK_FALSE(w.is_up(b));
  w.restart(b);
  CHECK(w.is_up(b));
  int boots = 0;
  w.on_boot(b, [&w, b, &boots] {
    ++boots;
    auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(7));
    REQUIRE(u);
    w.spawn(b, udp_echo(std::move(*u))).detach();
  });
  w.bounce(b);
  CHECK(boots == 2);
  CHECK(w.is_up(b));
  CHECK(w.run(a, udp_ping(b.addr(7), "x")) == "x");
  // Cut both ways, then repair a -> b only: a's datagram reaches b (the
  // server's receive), b's echo back is lost.
  w.partition(a, b);
  CHECK(w.run(a, udp_ping(b.addr(7), "y")).empty());
  w.repair_one_way(a, b);
  auto crossed = w.spawn(b, []() -> duet::Task<bool> {
    auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(9));
    if (!u) co_return false;
    std::byte buf[8];
    auto d = co_await duet::timeout(std::chrono::seconds(1), u->recv_from(buf));
    co_return d.has_value() && d->size == 1;
  }());
  w.run(a, [](Host b) -> duet::Task<void> {
    auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(0));
    if (!u) co_return;
    const std::byte one[1] = {std::byte{1}};
    (void)co_await u->send_to(one, b.addr(9));
  }(b));
  CHECK(crossed.join());
  CHECK(w.run(a, udp_ping(b.addr(7), "z")).empty());  // the echo back is still cut
  w.repair(a, b);
  CHECK(w.run(a, udp_ping(b.addr(7), "w")) == "w");
}

TEST_CASE("sim: a hold keeps connects and datagrams until the release") {
  World w(WorldConfig{.seed = 8, .link = {.latency = ms(2)}});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  auto l = duet::sim::as_host(
      b, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(80)); });
  REQUIRE(l);
  auto u = duet::sim::as_host(
      b, [] { return duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(9)); });
  REQUIRE(u);
  auto received = w.spawn(b, [](duet::net::UdpSocket u) -> duet::Task<std::size_t> {
    std::byte buf[16];
    auto d = co_await u.recv_from(buf);
    co_return d ? d->size : 0;
  }(std::move(*u)));
  w.hold(a, b);
  auto connect = w.spawn(a, [](Host b) -> duet::Task<bool> {
    auto c = co_await duet::net::TcpStream::connect(b.addr(80), std::chrono::hours(1));
    co_return c.has_value();
  }(b));
  w.run(a, [](Host b) -> duet::Task<void> {
    auto s = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(0));
    if (!s) co_return;
    const std::byte three[3] = {};
    (void)co_await s->send_to(three, b.addr(9));
  }(b));
  w.run_for(std::chrono::minutes(10));  // no SYN retry gives up, no datagram crosses
  CHECK_FALSE(connect.is_finished());
  CHECK_FALSE(received.is_finished());
  const duet::Instant released = w.now();
  w.release(a, b);
  CHECK(received.join() == 3);
  CHECK(connect.join());
  CHECK(w.now() - released < ms(5));  // sent on at once: the datagram's hop, the SYN's round trip
}

// ---- seeded randomness for user code ---------------------------------------

/// A counter service on port 9 with a planted bug: it applies every
/// request it gets, a retry of one it applied included (no de-duplication),
/// and acknowledges after 20 ms of "work". `applied` counts what it did.
duet::Task<void> counter_service(duet::net::UdpSocket u, int* applied, bool dedup) {
  std::vector<std::uint32_t> seen;
  std::byte buf[8];
  for (;;) {
    auto d = co_await u.recv_from(buf);
    if (!d || d->size != 4) co_return;
    std::uint32_t id = 0;
    std::memcpy(&id, buf, 4);
    if (!dedup || std::find(seen.begin(), seen.end(), id) == seen.end()) {
      ++*applied;
      seen.push_back(id);
    }
    co_await duet::sleep(ms(20));
    (void)co_await u.send_to(std::span(buf, 4), d->from);
  }
}

/// A client that sends request 1 and waits for the ack with a random
/// timeout in [5, 40] ms, retrying with the same id until an ack comes:
/// the back-offs it drew.
duet::Task<std::vector<std::int64_t>> retrying_client(duet::net::SocketAddr to) {
  std::vector<std::int64_t> drawn;
  auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(0));
  if (!u) co_return drawn;
  const std::uint32_t id = 1;
  std::byte req[4];
  std::memcpy(req, &id, 4);
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto wait = duet::random_duration(ms(5), ms(40));
    drawn.push_back(wait.count());
    if (!co_await u->send_to(req, to)) co_return drawn;
    std::byte ack[4];
    auto d = co_await duet::timeout(wait, u->recv_from(ack));
    if (d) break;
  }
  co_return drawn;
}

struct RetryRun {
  std::vector<std::int64_t> backoffs;
  int applied = 0;
  std::string fingerprint;
  std::uint64_t builder_draw = 0;  // the test's thread's first draw after the world's build
};

RetryRun retry_scenario(std::uint64_t seed, bool dedup) {
  World w(WorldConfig{.seed = seed, .link = {.latency = ms(1)}});
  RetryRun out;
  out.builder_draw = duet::random_u64();
  Host c = w.add_host("client");
  Host s = w.add_host("server");
  auto u = duet::sim::as_host(
      s, [] { return duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(9)); });
  REQUIRE(u);
  w.spawn(s, counter_service(std::move(*u), &out.applied, dedup)).detach();
  out.backoffs = w.run(c, retrying_client(s.addr(9)));
  w.run_for(ms(200));  // the retries still on their way land
  out.fingerprint = w.fingerprint();
  return out;
}

TEST_CASE(
    "sim: a retry loop's random back-off finds a planted double apply, and its seed replays it") {
  std::optional<std::uint64_t> found;
  for (std::uint64_t seed = 1; seed <= 40 && !found; ++seed) {
    if (retry_scenario(seed, false).applied > 1) found = seed;
  }
  REQUIRE(found);  // a draw under the 22 ms round trip retries, and the retry applies again
  const RetryRun a = retry_scenario(*found, false);
  const RetryRun b = retry_scenario(*found, false);
  CHECK(a.applied > 1);
  CHECK(b.applied == a.applied);
  CHECK(b.backoffs == a.backoffs);
  CHECK(b.fingerprint == a.fingerprint);
  CHECK(b.builder_draw == a.builder_draw);
  CHECK(retry_scenario(*found + 1, false).backoffs != a.backoffs);
  // The fixed service (it de-duplicates by id) applies once on every seed.
  for (std::uint64_t seed = 1; seed <= 40; ++seed) CHECK(retry_scenario(seed, true).applied == 1);
}

TEST_CASE("sim: a fiber's random draws replay from the seed") {
  auto draws = [](std::uint64_t seed) {
    World w(WorldConfig{.seed = seed});
    Host a = w.add_host("a");
    return w.run(a, duet::stackful, [] {
      std::vector<std::uint64_t> v;
      for (int i = 0; i < 4; ++i) {
        v.push_back(duet::random_below(1000));
        duet::wait(duet::sleep(duet::random_duration(ms(1), ms(10))));
      }
      v.push_back(static_cast<std::uint64_t>(duet::random_between(-5, 5) + 5));
      return v;
    });
  };
  CHECK(draws(3) == draws(3));
  CHECK(draws(3) != draws(4));
}

TEST_CASE("random: the helpers keep their ranges and refuse empty ones") {
  for (int i = 0; i < 1000; ++i) {
    CHECK(duet::random_below(7) < 7);
    const auto v = duet::random_between(-3, 3);
    CHECK((v >= -3 && v <= 3));
    const double u = duet::random_unit();
    CHECK((u >= 0.0 && u < 1.0));
    const auto d = duet::random_duration(ms(2), ms(4));
    CHECK((d >= ms(2) && d <= ms(4)));
  }
  CHECK_FALSE(duet::random_chance(0.0));
  CHECK(duet::random_chance(1.0));
  CHECK_THROWS_AS(duet::random_below(0), std::invalid_argument);
  CHECK_THROWS_AS(duet::random_between(2, 1), std::invalid_argument);
  CHECK_THROWS_AS(duet::random_duration(ms(2), ms(1)), std::invalid_argument);
  std::vector<int> v{1, 2, 3, 4, 5};
  std::shuffle(v.begin(), v.end(), duet::Random{});
  std::sort(v.begin(), v.end());
  CHECK(v == std::vector<int>{1, 2, 3, 4, 5});
}

// ---- fault points ----------------------------------------------------------

TEST_CASE("buggify: a fault point never fires outside a world") {
  int fired = 0;
  for (int i = 0; i < 10000; ++i) fired += duet::buggify(1.0) ? 1 : 0;
  CHECK(fired == 0);
}

/// A client of the UDP echo with a fault point on its retry path and a
/// planted bug there: a spurious timeout (the fault point) sends again, and
/// the retry appends the answer to what the first try left in its buffer
/// instead of starting afresh. The text it ends with.
duet::Task<std::string> fetch_with_retry(duet::net::SocketAddr to) {
  auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(0));
  if (!u) co_return "";
  std::string got;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::string req = "value";
    if (!co_await u->send_to(std::as_bytes(std::span(req.data(), req.size())), to)) co_return "";
    char buf[64];
    auto d = co_await duet::timeout(ms(500), u->recv_from(std::as_writable_bytes(std::span(buf))));
    if (!d) continue;
    got.append(buf, d->size);          // the planted bug: `got` is not cleared per try
    if (duet::buggify(0.5)) continue;  // a spurious timeout: try again
    break;
  }
  co_return got;
}

struct FaultRun {
  std::string got;
  std::string fingerprint;
  std::vector<std::string> trace;
};

FaultRun fault_scenario(std::uint64_t seed, double sites) {
  World w(WorldConfig{.seed = seed, .keep_trace = true, .buggify_sites = sites});
  Host c = w.add_host("client");
  Host s = w.add_host("server");
  auto u = duet::sim::as_host(
      s, [] { return duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_any(7)); });
  REQUIRE(u);
  w.spawn(s, udp_echo(std::move(*u))).detach();
  FaultRun out;
  out.got = w.run(c, fetch_with_retry(s.addr(7)));
  out.fingerprint = w.fingerprint();
  out.trace = w.trace();
  return out;
}

TEST_CASE("buggify: fault points fire by the seed, find a planted bug and replay it") {
  std::optional<std::uint64_t> found;
  int clean = 0;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    const FaultRun r = fault_scenario(seed, 0.5);
    if (r.got == "value") {
      ++clean;
    } else if (!found) {
      found = seed;
    }
  }
  REQUIRE(found);
  CHECK(clean > 0);  // half the runs leave the site disabled
  const FaultRun a = fault_scenario(*found, 0.5);
  const FaultRun b = fault_scenario(*found, 0.5);
  CHECK(a.got != "value");
  CHECK(b.got == a.got);
  CHECK(b.fingerprint == a.fingerprint);
  CHECK(std::any_of(a.trace.begin(), a.trace.end(), [](const std::string& l) {
    return l.find("buggify world_test.cpp:") != std::string::npos;
  }));
  // With no site enabled, the same seed runs clean.
  CHECK(fault_scenario(*found, 0.0).got == "value");
}

}  // namespace world_test

}  // namespace

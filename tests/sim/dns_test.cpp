// dns_test.cpp: duet::dns against the world's names: a lookup on the
// world's worker resolves a simulated host's name to its address after a
// round trip to the world's resolver (two crossings of the default link),
// dns::connect connects by name from a coroutine and a fiber, and an
// unknown name fails as NXDOMAIN does; a lossy default link loses tries,
// which are retried on c-ares's schedule and time out when all are lost;
// a host cut from the resolver times out while another is answered, and a
// crashed resolver refuses each try after its round trip; each the same
// trace for the same seed.
#include <catch2/catch.hpp>

#include <duet/dns.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "sim_util.hpp"

using namespace duet::simtest;
using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

struct ByName {
  bool addr_ok = false;      // the lookup gave the server's address
  bool on_time = false;      // after the resolver's round trip
  bool any_case_ok = false;  // "SERVER." is the same name
  bool literal_now = false;  // an IPv4 literal answers at once
  bool echoed = false;       // connected by name, and a byte came back
  std::string fingerprint;
};

duet::Task<ByName> coro_by_name(World* w, Host server) {
  ByName out;
  auto r = duet::dns::Resolver::create({});
  if (!r) co_return out;
  const duet::Instant t0 = duet::Clock::now();
  auto a = co_await r->lookup("server", 7);
  out.addr_ok = a.has_value() && a->size() == 1 && (*a)[0] == server.addr(7);
  // The default link: 4 ms each way, jitter up to 1 ms each way.
  const auto took = duet::Clock::now() - t0;
  out.on_time =
      took >= std::chrono::milliseconds(8) && took < std::chrono::milliseconds(10) + kTicks;
  auto b = co_await r->lookup("SERVER.", 7);
  out.any_case_ok = b.has_value() && b->size() == 1 && (*b)[0] == server.addr(7);
  const duet::Instant t1 = duet::Clock::now();
  auto lit = co_await r->lookup("10.0.0.2", 7);
  out.literal_now = lit.has_value() && duet::Clock::now() == t1 && (*lit)[0] == server.addr(7);
  auto c = co_await duet::dns::connect(*r, "server", 7);
  if (c) {
    std::byte x[1] = {std::byte{9}};
    auto wr = co_await c->write_all(x);
    auto n = co_await c->read(x);
    out.echoed = wr.has_value() && n.has_value() && *n == 1 && x[0] == std::byte{9};
  }
  out.fingerprint = w->fingerprint();
  co_return out;
}

ByName lookup_scenario(std::uint64_t seed) {
  WorldConfig cfg{.seed = seed};
  cfg.link = {.latency = std::chrono::milliseconds(4), .jitter = std::chrono::milliseconds(1)};
  World w(cfg);
  Host client = w.add_host("client");
  Host server = w.add_host("server");                // 10.0.0.2
  w.spawn(server, coro_echo_server(7, 1)).detach();  // the service the name points at
  return w.run(client, coro_by_name(&w, server));
}

}  // namespace

TEST_CASE("sim: duet::dns resolves a world host's name after a round trip, and connects by it") {
  const ByName a = lookup_scenario(51);
  INFO(a.fingerprint);
  CHECK(a.addr_ok);
  CHECK(a.on_time);
  CHECK(a.any_case_ok);
  CHECK(a.literal_now);
  CHECK(a.echoed);
  const ByName b = lookup_scenario(51);
  CHECK(b.fingerprint == a.fingerprint);
}

TEST_CASE("sim: a fiber connects by name, and an unknown name fails as NXDOMAIN") {
  WorldConfig cfg{.seed = 52};
  cfg.link = {.latency = std::chrono::milliseconds(3)};
  World w(cfg);
  Host client = w.add_host("client");
  Host server = w.add_host("server");
  w.spawn(server, coro_echo_server(8, 1)).detach();
  w.run(client, duet::stackful, [] {
    auto r = duet::dns::Resolver::create({});
    REQUIRE(r);
    const duet::Instant t0 = duet::Clock::now();
    auto none = duet::wait(r->lookup("nowhere", 8));
    REQUIRE_FALSE(none);
    CHECK(duet::dns::is_not_found(none.error()));
    CHECK(none.error().message() == "Domain name not found");
    CHECK(near(duet::Clock::now() - t0, std::chrono::milliseconds(6)));  // the round trip
    auto c = duet::wait(duet::dns::connect(*r, "nowhere", 8));
    REQUIRE_FALSE(c);
    CHECK(duet::dns::is_not_found(c.error()));
    // An IPv4-only world (the default ip_version): a v6-only lookup of a
    // known name finds no address of that family (ipv6_test.cpp has the
    // other worlds).
    auto v6 = duet::dns::Resolver::create({.family = duet::dns::Family::v6});
    REQUIRE(v6);
    auto six = duet::wait(v6->lookup("server", 8));
    REQUIRE_FALSE(six);
    CHECK(duet::dns::is_not_found(six.error()));
    // By name, from the fiber.
    auto s = duet::wait(duet::dns::connect(*r, "server", 8));
    REQUIRE(s);
    std::byte x[1] = {std::byte{5}};
    REQUIRE(duet::wait(s->write_all(x)));
    auto n = duet::wait(s->read(x));
    REQUIRE(n);
    CHECK(*n == 1);
  });
}

namespace {

/// Per lookup: 0 and the tries it took (1-3), or -1 for a timeout; and
/// whether it took exactly what those tries cost.
struct LossyLookups {
  std::vector<int> tries;
  bool timed = true;
  std::string fingerprint;
};

/// 16 lookups of "server" over a default link of 4 ms each way (no jitter)
/// losing `loss` of each crossing, the resolver trying 3 times from
/// 100 ms (100, 200, 400: c-ares's doubling with one server).
LossyLookups lossy_lookups(std::uint64_t seed, double loss) {
  WorldConfig cfg{.seed = seed, .keep_trace = true};
  cfg.link = {.latency = std::chrono::milliseconds(4), .loss = loss};
  World w(cfg);
  Host client = w.add_host("client");
  Host server = w.add_host("server");
  LossyLookups out;
  w.run(client, duet::stackful, [&] {
    auto r = duet::dns::Resolver::create(
        {.attempt_timeout = std::chrono::milliseconds(100), .tries = 3});
    REQUIRE(r);
    for (int i = 0; i < 16; ++i) {
      const duet::Instant t0 = duet::Clock::now();
      auto a = duet::wait(r->lookup("server", 80));
      const auto took = duet::Clock::now() - t0;
      if (!a) {
        CHECK(a.error() == std::make_error_code(std::errc::timed_out));
        out.tries.push_back(-1);
        out.timed = out.timed && near(took, std::chrono::milliseconds(700));
        continue;
      }
      CHECK((*a)[0] == server.addr(80));
      int k = 0;
      std::chrono::milliseconds lost{0};
      for (; k < 3; ++k) {
        if (near(took, lost + std::chrono::milliseconds(8))) break;
        lost += std::chrono::milliseconds(100 << k);
      }
      out.tries.push_back(k < 3 ? k + 1 : 0);  // 0: no schedule matched
      out.timed = out.timed && k < 3;
    }
  });
  out.fingerprint = w.fingerprint();
  return out;
}

}  // namespace

TEST_CASE("sim: a lossy link loses lookups, which retry as c-ares does and time out, replayed") {
  const LossyLookups a = lossy_lookups(53, 0.5);
  INFO(a.fingerprint);
  REQUIRE(a.tries.size() == 16);
  CHECK(a.timed);
  CHECK(std::count(a.tries.begin(), a.tries.end(), 1) > 0);
  CHECK(std::count_if(a.tries.begin(), a.tries.end(), [](int t) { return t > 1; }) > 0);
  CHECK(std::count(a.tries.begin(), a.tries.end(), -1) > 0);
  CHECK(std::count(a.tries.begin(), a.tries.end(), 0) == 0);
  const LossyLookups b = lossy_lookups(53, 0.5);
  CHECK(b.tries == a.tries);
  CHECK(b.fingerprint == a.fingerprint);
  const LossyLookups all_lost = lossy_lookups(53, 1.0);
  CHECK(all_lost.timed);
  CHECK(std::count(all_lost.tries.begin(), all_lost.tries.end(), -1) == 16);
  const LossyLookups none = lossy_lookups(53, 0.0);
  CHECK(none.timed);
  CHECK(std::count(none.tries.begin(), none.tries.end(), 1) == 16);
}

namespace {

/// One lookup of "server" from a task on `h`: whether it was answered, its
/// error, and how long it took.
struct Got {
  bool ok = false;
  std::error_code err;
  duet::Clock::duration took{};
};

Got lookup_from(World& w, Host h) {
  return w.run(h, duet::stackful, [] {
    Got g;
    auto r = duet::dns::Resolver::create(
        {.attempt_timeout = std::chrono::milliseconds(100), .tries = 3});
    if (!r) return g;
    const duet::Instant t0 = duet::Clock::now();
    auto x = duet::wait(r->lookup("server", 80));
    g.took = duet::Clock::now() - t0;
    g.ok = x.has_value();
    if (!x) g.err = x.error();
    return g;
  });
}

struct ResolverFaults {
  Got cut, other, repaired, refused, restarted;
  std::string fingerprint;
};

/// Over a default link of 4 ms each way (a round trip of 8 ms, no jitter,
/// no loss), the resolver trying 3 times from 100 ms: host a cut from the
/// resolver while b looks up too, then repaired; then the resolver down
/// and back.
ResolverFaults resolver_faults(std::uint64_t seed) {
  WorldConfig cfg{.seed = seed, .keep_trace = true};
  cfg.link = {.latency = std::chrono::milliseconds(4)};
  World w(cfg);
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  (void)w.add_host("server");
  ResolverFaults out;
  w.partition_resolver(a);
  out.cut = lookup_from(w, a);
  out.other = lookup_from(w, b);
  w.repair_resolver(a);
  out.repaired = lookup_from(w, a);
  w.crash_resolver();
  out.refused = lookup_from(w, b);
  w.restart_resolver();
  out.restarted = lookup_from(w, b);
  out.fingerprint = w.fingerprint();
  return out;
}

}  // namespace

TEST_CASE("sim: a host cut from the resolver times out, a crashed resolver refuses, replayed") {
  const ResolverFaults f = resolver_faults(54);
  INFO(f.fingerprint);
  // Every try lost: c-ares's schedule (100 + 200 + 400 ms), then timed_out.
  CHECK_FALSE(f.cut.ok);
  CHECK(f.cut.err == std::make_error_code(std::errc::timed_out));
  CHECK(near(f.cut.took, std::chrono::milliseconds(700)));
  // Another host is not cut: one round trip.
  CHECK(f.other.ok);
  CHECK(near(f.other.took, std::chrono::milliseconds(8)));
  CHECK(f.repaired.ok);
  CHECK(near(f.repaired.took, std::chrono::milliseconds(8)));
  // Each try refused after its round trip, the next sent at once.
  CHECK_FALSE(f.refused.ok);
  CHECK(f.refused.err.category() == duet::dns::dns_category());
  CHECK(f.refused.err.message() == "Could not contact DNS servers");
  CHECK_FALSE(duet::dns::is_not_found(f.refused.err));
  CHECK(near(f.refused.took, std::chrono::milliseconds(24)));
  CHECK(f.restarted.ok);
  CHECK(near(f.restarted.took, std::chrono::milliseconds(8)));
  // The same seed, the same trace.
  CHECK(resolver_faults(54).fingerprint == f.fingerprint);
}

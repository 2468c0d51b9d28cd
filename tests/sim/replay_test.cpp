// replay_test.cpp: one seed, one run: the same seed gives the same trace
// hash; a sweep of seeds with faults where a correct echo client gets its
// bytes back or an error, never wrong bytes; and a planted bug (a client
// that ignores a short write) that some seed of the sweep finds and that
// its seed replays with the same hash.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "sim_util.hpp"

using namespace duet::simtest;
using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

/// A client that trusts one write() to take the whole message: the bug
/// that a short write exposes (its peer gets only the prefix).
duet::Task<duet::Result<std::vector<std::byte>>> careless_echo_client(duet::net::SocketAddr to,
                                                                      std::vector<std::byte> msg) {
  auto c = co_await duet::net::TcpStream::connect(to);
  if (!c) co_return c.error();
  auto n = co_await c->write(msg);  // the bug: a short count is ignored
  if (!n) co_return n.error();
  auto sh = c->shutdown();
  if (!sh) co_return sh.error();
  std::vector<std::byte> got;
  std::byte buf[4096];
  for (;;) {
    auto r = co_await c->read(buf);
    if (!r) co_return r.error();
    if (*r == 0) break;
    got.insert(got.end(), buf, buf + *r);
  }
  co_return got;
}

struct RunResult {
  std::uint64_t hash = 0;
  std::string fingerprint;
  int ok = 0;
  int errors = 0;
  int wrong = 0;
};

/// The clients' outcomes and the trace when the last one ended.
struct Ended {
  std::vector<Outcome> outcomes;
  std::uint64_t hash = 0;
  std::string fingerprint;
};

/// Three clients on three hosts echo through one server under the fault
/// rates below, with jittery lossy links: each client's outcome is
/// counted. Coroutine clients, or (careless) the buggy one.
RunResult fault_scenario(std::uint64_t seed, bool careless) {
  WorldConfig cfg;
  cfg.seed = seed;
  cfg.link = {.latency = std::chrono::milliseconds(2),
              .jitter = std::chrono::milliseconds(3),
              .loss = 0.05};
  cfg.faults = {.reset = 0.02, .short_read = 0.3, .short_write = 0.05, .refuse = 0.05};
  World w(cfg);
  Host server = w.add_host("server");
  std::vector<Host> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(w.add_host("client" + std::to_string(i)));
  w.spawn(server, coro_echo_forever(80)).detach();
  // The hash is read on the world's worker when the clients are done: read
  // from the test's thread after the run, it would race the paused clock,
  // which goes on through the network's pending timers.
  auto ended = w.run(
      clients[0],
      [](World* w, Host server, std::vector<Host> clients, bool careless) -> duet::Task<Ended> {
        std::vector<duet::JoinHandle<duet::Result<std::vector<std::byte>>>> hs;
        std::vector<std::vector<std::byte>> msgs;
        for (std::size_t i = 0; i < clients.size(); ++i) {
          msgs.push_back(bytes(3000 + 500 * i, static_cast<std::uint32_t>(i)));
          auto t = careless ? careless_echo_client(server.addr(80), msgs.back())
                            : coro_echo_client(server.addr(80), msgs.back());
          hs.push_back(duet::sim::spawn(clients[i], std::move(t)));
        }
        Ended out;
        for (std::size_t i = 0; i < hs.size(); ++i) {
          auto r = co_await hs[i];
          out.outcomes.push_back(!r              ? Outcome::error
                                 : *r == msgs[i] ? Outcome::ok
                                                 : Outcome::wrong);
        }
        out.hash = w->trace_hash();
        out.fingerprint = w->fingerprint();
        co_return out;
      }(&w, server, clients, careless));
  RunResult res;
  for (Outcome o : ended.outcomes) {
    res.ok += o == Outcome::ok ? 1 : 0;
    res.errors += o == Outcome::error ? 1 : 0;
    res.wrong += o == Outcome::wrong ? 1 : 0;
  }
  res.hash = ended.hash;
  res.fingerprint = std::move(ended.fingerprint);
  return res;
}

}  // namespace

TEST_CASE("the same seed gives the same trace hash, another seed another") {
  const RunResult a = fault_scenario(42, false);
  const RunResult b = fault_scenario(42, false);
  INFO(a.fingerprint << " / " << b.fingerprint);
  CHECK(a.hash == b.hash);
  CHECK(a.fingerprint == b.fingerprint);
  CHECK(a.ok == b.ok);
  CHECK(a.errors == b.errors);
  const RunResult c = fault_scenario(43, false);
  INFO(c.fingerprint);
  CHECK(c.hash != a.hash);
}

TEST_CASE("the same seed replays a fiber scenario's trace line for line") {
  auto once = [](std::uint64_t seed) {
    WorldConfig cfg;
    cfg.seed = seed;
    cfg.keep_trace = true;
    cfg.link = {.latency = std::chrono::milliseconds(1), .jitter = std::chrono::milliseconds(4)};
    cfg.faults = {.short_read = 0.5, .short_write = 0.5};
    World w(cfg);
    Host a = w.add_host("a");
    Host b = w.add_host("b");
    auto srv = w.spawn(b, duet::stackful, [] { fiber_echo_server(80, 1); });
    // The trace taken on the world's worker once both ends are done (from
    // the test's thread it would race the clock's further steps).
    auto got = w.run(a, duet::stackful, [&w, &srv, b] {
      auto r = fiber_echo_client(b.addr(80), bytes(20000));
      srv.join();
      return std::make_pair(r.has_value(), w.trace());
    });
    CHECK(got.first);
    return got.second;
  };
  const auto t1 = once(9);
  const auto t2 = once(9);
  CHECK(t1.size() > 10);
  CHECK(t1 == t2);
}

TEST_CASE("a sweep of 50 seeds with faults: a correct client never gets wrong bytes") {
  int ok = 0;
  int errors = 0;
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    const RunResult r = fault_scenario(seed, false);
    INFO("replay: " << r.fingerprint);
    CHECK(r.wrong == 0);
    ok += r.ok;
    errors += r.errors;
  }
  // The faults bite (some clients see errors), and most get through.
  CHECK(errors > 0);
  CHECK(ok > errors);
}

TEST_CASE("a planted bug (a short write ignored) is found by a seed and replayed from it") {
  std::uint64_t found = 0;
  RunResult first;
  for (std::uint64_t seed = 1; seed <= 50 && found == 0; ++seed) {
    RunResult r = fault_scenario(seed, true);
    if (r.wrong > 0) {
      found = seed;
      first = r;
    }
  }
  REQUIRE(found != 0);
  std::printf("sim: planted bug found: %s (replay: fault_scenario(%llu, careless))\n",
              first.fingerprint.c_str(), static_cast<unsigned long long>(found));
  const RunResult again = fault_scenario(found, true);
  CHECK(again.hash == first.hash);
  CHECK(again.wrong == first.wrong);
  CHECK(again.fingerprint == first.fingerprint);
}

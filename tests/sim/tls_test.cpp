// tls_test.cpp: duet::tls, unchanged, between two simulated hosts: the
// scenarios of tests/tls (a verified handshake with SNI and ALPN, data
// echoed in records, close_notify both ways, a resumed session) from a
// coroutine and from a fiber, over links with latency and jitter. And their
// replay: in a world OpenSSL draws from the world's seed and a session
// ticket carries the world's clock (drivers/tls/src/sim_replay.hpp), so the
// same seed gives the same trace, every handshake, ticket and record byte
// for byte, and another seed another (docs/simulation.md).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <duet/tls.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io_util.hpp"
#include "sim_util.hpp"
#include "tls_peer.hpp"

#include "tls_shared.hpp"

#define DUET_SCENARIOS "../tls/tls_scenarios.inc"
#include "both_models.inc"

using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;
using duet::tls::TlsContext;
using duet::tlstest::certs;
using shared::Seen;
using namespace std::chrono_literals;

namespace {

TlsContext client_ctx() {
  duet::tls::ClientConfig cc;
  cc.ca_file = certs().ca;
  cc.alpn = {"http/1.1"};
  return TlsContext::client(cc).value();
}

TlsContext server_ctx() {
  duet::tls::ServerConfig sc;
  sc.cert_file = certs().server;
  sc.key_file = certs().server_key;
  sc.alpn = {"h2", "http/1.1"};
  return TlsContext::server(sc).value();
}

/// Two connections from `client` to an echo server on `server`: 200 KB
/// echoed on the first (several records, more than a socket buffer), 1 KB
/// on the second, which resumes the first's session. The errors, empty
/// when every step passed.
struct Run {
  std::string server, first, second;
  Seen srv[2], cli[2];
};

Run run_coroutines(World& w, Host client, Host server, const TlsContext& sctx,
                   const TlsContext& cctx, duet::net::TcpListener& l) {
  Run r;
  auto srv = w.spawn(server, coro::echo_server(&sctx, &l, 2, &r.srv[0]));
  r.first =
      w.run(client, coro::echo_client(&cctx, server.addr(443), "localhost", 200000, &r.cli[0]));
  r.second =
      w.run(client, coro::echo_client(&cctx, server.addr(443), "localhost", 1000, &r.cli[1]));
  r.server = srv.join();
  return r;
}

Run run_fibers(World& w, Host client, Host server, const TlsContext& sctx, const TlsContext& cctx,
               duet::net::TcpListener& l) {
  Run r;
  auto srv =
      w.spawn(server, duet::stackful, [&] { return fib::echo_server(&sctx, &l, 2, &r.srv[0]); });
  r.first = w.run(client, duet::stackful, [&] {
    return fib::echo_client(&cctx, server.addr(443), "localhost", 200000, &r.cli[0]);
  });
  r.second = w.run(client, duet::stackful, [&] {
    return fib::echo_client(&cctx, server.addr(443), "localhost", 1000, &r.cli[1]);
  });
  r.server = srv.join();
  return r;
}

/// One world of seed `seed`: the run in `model` and the trace's fingerprint.
std::pair<Run, std::string> in_world(std::uint64_t seed, bool fibers) {
  const TlsContext sctx = server_ctx();
  const TlsContext cctx = client_ctx();
  World w(WorldConfig{.seed = seed});
  Host c = w.add_host("client");
  Host s = w.add_host("server");
  w.set_link(c, s, {.latency = 10ms, .jitter = 5ms});
  auto l = duet::sim::as_host(
      s, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(443)); });
  REQUIRE(l);
  Run r = fibers ? run_fibers(w, c, s, sctx, cctx, *l) : run_coroutines(w, c, s, sctx, cctx, *l);
  l->close();
  CHECK(w.open_sockets() == 0);
  return {std::move(r), w.fingerprint()};
}

/// One replayed run: the steps' errors, what each side saw, the trace.
struct Replay {
  Run run;
  std::uint64_t hash = 0;
  std::string fingerprint;
  std::vector<std::string> trace;
};

/// The client's whole part in one task, so that every step, and the
/// trace's reading once the server has ended, happens at a point the seed
/// fixes (a second World::run from the test's thread would start at a
/// point of the paused clock that the thread's timing picks).
duet::Task<void> coro_replayed(World* w, Host server, const TlsContext* cctx,
                               duet::JoinHandle<std::string>* srv, Replay* out) {
  Run& r = out->run;
  r.first = co_await coro::echo_client(cctx, server.addr(443), "localhost", 50000, &r.cli[0]);
  r.second = co_await coro::echo_client(cctx, server.addr(443), "localhost", 1000, &r.cli[1]);
  r.server = co_await *srv;
  out->hash = w->trace_hash();
  out->trace = w->trace();
}

void fiber_replayed(World* w, Host server, const TlsContext* cctx,
                    duet::JoinHandle<std::string>* srv, Replay* out) {
  Run& r = out->run;
  r.first = fib::echo_client(cctx, server.addr(443), "localhost", 50000, &r.cli[0]);
  r.second = fib::echo_client(cctx, server.addr(443), "localhost", 1000, &r.cli[1]);
  r.server = duet::wait(*srv);
  out->hash = w->trace_hash();
  out->trace = w->trace();
}

/// The scenario of in_world (a full handshake, data both ways, a resumed
/// session) with every step on the world's worker, the contexts made
/// before the world, as a test makes them.
Replay replayed(std::uint64_t seed, bool fibers) {
  const TlsContext sctx = server_ctx();
  const TlsContext cctx = client_ctx();
  World w(WorldConfig{.seed = seed, .keep_trace = true});
  Host c = w.add_host("client");
  Host s = w.add_host("server");
  w.set_link(c, s, {.latency = 10ms, .jitter = 5ms});
  auto l = duet::sim::as_host(
      s, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(443)); });
  REQUIRE(l);
  Replay out;
  Seen* seen = out.run.srv;
  if (fibers) {
    auto srv = w.spawn(s, duet::stackful, [&] { return fib::echo_server(&sctx, &*l, 2, seen); });
    w.run(c, duet::stackful, [&] { fiber_replayed(&w, s, &cctx, &srv, &out); });
  } else {
    auto srv = w.spawn(s, coro::echo_server(&sctx, &*l, 2, seen));
    w.run(c, coro_replayed(&w, s, &cctx, &srv, &out));
  }
  l->close();
  out.fingerprint = "seed " + std::to_string(seed) + " hash " + std::to_string(out.hash);
  return out;
}

/// Returns once the wall clock's second has changed: a run after it would
/// stamp a ticket with another wall time than a run before it, so equal
/// traces show that the tickets carry the world's clock.
void next_wall_second() {
  const std::time_t t0 = std::time(nullptr);
  while (std::time(nullptr) == t0) std::this_thread::sleep_for(10ms);
}

/// The first line where two traces differ ("" when none), for the report.
std::string first_difference(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] != b[i]) return "line " + std::to_string(i) + ": " + a[i] + " | " + b[i];
  }
  return a.size() == b.size()
             ? ""
             : "lengths " + std::to_string(a.size()) + " and " + std::to_string(b.size());
}

}  // namespace

TEST_CASE("TLS in a world replays byte for byte: the same seed the same trace, in each model") {
  if (!duet::tlstest::have_openssl()) DUET_SKIP("the openssl tool is not installed");
  REQUIRE(certs().ok);
  const bool fibers = GENERATE(false, true);
  INFO((fibers ? "fibers" : "coroutines"));
  const Replay a = replayed(21, fibers);
  next_wall_second();
  const Replay b = replayed(21, fibers);
  INFO(a.fingerprint << " / " << b.fingerprint);
  for (const Replay* x : {&a, &b}) {
    CHECK(x->run.first == "");
    CHECK(x->run.second == "");
    CHECK(x->run.server == "");
    CHECK_FALSE(x->run.cli[0].reused);
    CHECK(x->run.cli[1].reused);  // the ticket, sealed on the world's clock, opened again
    CHECK(x->run.srv[1].reused);
  }
  INFO(first_difference(a.trace, b.trace));
  CHECK(a.trace == b.trace);
  CHECK(a.hash == b.hash);
  const Replay c = replayed(22, fibers);
  CHECK(c.run.cli[1].reused);
  CHECK(c.hash != a.hash);
}

TEST_CASE("TLS between two simulated hosts: verified, echoed, resumed, in each model") {
  if (!duet::tlstest::have_openssl()) DUET_SKIP("the openssl tool is not installed");
  REQUIRE(certs().ok);
  const bool fibers = GENERATE(false, true);
  INFO((fibers ? "fibers" : "coroutines"));
  auto [r, fp] = in_world(fibers ? 12 : 11, fibers);
  INFO(fp);
  CHECK(r.first == "");
  CHECK(r.second == "");
  CHECK(r.server == "");
  CHECK(r.cli[0].alpn == "http/1.1");
  CHECK(r.srv[0].sni == "localhost");
  CHECK_FALSE(r.cli[0].reused);
  CHECK(r.cli[1].reused);  // the first connection's read took the session ticket
  CHECK(r.srv[1].reused);
}

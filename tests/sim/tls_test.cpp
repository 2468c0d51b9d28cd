// tls_test.cpp: duet::tls, unchanged, between two simulated hosts: the
// scenarios of tests/tls (a verified handshake with SNI and ALPN, data
// echoed in records, close_notify both ways, a resumed session) from a
// coroutine and from a fiber, over links with latency and jitter. OpenSSL's
// keys and nonces come from its own generator, which the world does not
// seed: a run with TLS is not replayed byte for byte (docs/simulation.md).
#include <catch2/catch.hpp>

#include <chrono>
#include <duet/tls.hpp>
#include <string>
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

}  // namespace

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

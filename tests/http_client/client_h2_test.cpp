// client_h2_test.cpp: the client over HTTP/2 (docs/http.md, "The client"),
// against duet's own server: h2 by ALPN on https and h2c by prior
// knowledge, many requests multiplexed on one connection in both faces,
// bodies both ways, a request's deadline resetting its stream alone, and a
// server's drain (GOAWAY) met by a new connection.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <duet/http.hpp>
#include <duet/stackful.hpp>
#include <duet/tls.hpp>
#include <memory>
#include <string>
#include <vector>

#include "io_util.hpp"
#include "tls_peer.hpp"
#include "upstream.hpp"

using namespace duet::httpclienttest;
using namespace std::chrono_literals;

namespace {

/// A duet server answering over HTTP/1.1 and HTTP/2: GET /v answers the
/// request's version ("20" over HTTP/2), POST /len the body's length, GET
/// /park waits for `gate` (counting its waiters in `parked`, and its
/// cancelled handlers in `dropped`).
struct H2Server {
  H2Server(duet::Runtime& rt, bool tls, duet::http::ServerConfig so = {})
      : server(routes(*this), std::move(so)) {
    auto l = duet::net::TcpListener::bind(SocketAddr::v4_loopback(0));
    REQUIRE(l);
    port = l->local_addr()->port();
    if (tls) {
      duet::tls::ServerConfig sc;
      sc.cert_file = duet::tlstest::certs().server;
      sc.key_file = duet::tlstest::certs().server_key;
      sc.alpn = {"h2", "http/1.1"};
      auto c = duet::tls::TlsContext::server(sc);
      REQUIRE(c);
      ctx.emplace(std::move(*c));
      server.serve_tls(rt, std::move(*l), *ctx);
    } else {
      server.serve(rt, std::move(*l));
    }
  }
  static duet::http::Router routes(H2Server& s) {
    duet::http::Router r;
    r.get("/v", [](Request& q) { return Response::text(200, std::to_string(q.version)); });
    r.post("/len", [](Request& q) -> duet::Task<Response> {
      duet::Result<void> w = co_await duet::http::read_whole_body(q, 1 << 20);
      co_return Response::text(w ? 200 : 400, std::to_string(q.body.size()));
    });
    r.get("/park", [&s](Request&) -> duet::Task<Response> {
      struct Count {
        std::atomic<int>& n;
        ~Count() { n.fetch_add(1); }
      } c{s.dropped};
      s.parked.fetch_add(1);
      co_await s.gate.cancelled();
      co_return Response::text(200, "parked");
    });
    return r;
  }
  std::optional<duet::tls::TlsContext> ctx;
  duet::http::Server server;
  std::uint16_t port = 0;
  duet::CancellationToken gate;
  std::atomic<int> parked{0}, dropped{0};
};

ClientConfig h2c_config() {
  ClientConfig o;
  o.http2.prior_knowledge = true;
  return o;
}

/// 32 requests at once on one client, half GET /v, half POST /len: every
/// answer over HTTP/2, one connection for all.
duet::Task<void> many_at_once(Model m, Client& c, std::string base, Failures& f) {
  std::vector<duet::JoinHandle<Outcome>> calls;
  for (int i = 0; i < 32; ++i) {
    Request r = i % 2 == 0 ? Request::make(Method::get, "/")
                           : Request::make(Method::post, "/", std::string(1000 + i, 'p'));
    calls.push_back(duet::spawn(call(m, c, base + (i % 2 == 0 ? "/v" : "/len"), std::move(r))));
  }
  for (int i = 0; i < 32; ++i) {
    Outcome r = co_await calls[i];
    HC_ENSURE_OK(f, r, 200, i % 2 == 0 ? std::string("20") : std::to_string(1000 + i));
  }
  HC_EXPECT(f, c.stats().connects == 1);
}

}  // namespace

TEST_CASE("client h2: prior knowledge multiplexes requests of both faces on one connection",
          "[http_client][h2]") {
  const Model model = GENERATE(Model::stackless, Model::stackful);
  duet::iotest::Watchdog wd("http_client h2");
  auto rt = duet::iotest::make_rt(duet::IoDriver::epoll);
  Failures f;
  {
    H2Server s(*rt, false);
    Client c(h2c_config());
    const std::string base = "http://127.0.0.1:" + std::to_string(s.port);
    rt->block_on(many_at_once(model, c, base, f));
    // By address too: the same origin, the same connection.
    auto by_addr = rt->block_on(
        call(model, c, SocketAddr::v4_loopback(s.port), Request::make(Method::get, "/v")));
    CHECK(by_addr);
    if (by_addr) CHECK(by_addr->body == "20");
    CHECK(c.stats().connects == 1);
    rt->drain(5s);
  }
  f.report();
}

TEST_CASE("client h2: an idle connection drains with its runtime while the client lives",
          "[http_client][h2]") {
  duet::iotest::Watchdog wd("http_client h2");
  // The server on a runtime of its own, which stays up: only the client's
  // runtime drains.
  auto server_rt = duet::iotest::make_rt(duet::IoDriver::epoll, 1);
  H2Server s(*server_rt, false);
  {
    auto rt = duet::iotest::make_rt(duet::IoDriver::epoll, 1);
    Client c(h2c_config());
    auto r =
        rt->block_on(c.send(SocketAddr::v4_loopback(s.port), Request::make(Method::get, "/v")));
    REQUIRE(r);
    CHECK(r->body == "20");
    // Its connection's task ends with the drain, not at idle_timeout: none
    // is left to cancel.
    CHECK(rt->drain(5s).cancelled.empty());
  }
  server_rt->drain(5s);
}

TEST_CASE("client h2: https picks h2 by ALPN and HTTP/1.1 where the server does not offer it",
          "[http_client][h2]") {
  if (!duet::tlstest::have_openssl() || !duet::tlstest::certs().ok) {
    DUET_SKIP("the openssl tool is not installed (it makes the test certificates)");
  }
  duet::iotest::Watchdog wd("http_client h2");
  auto rt = duet::iotest::make_rt(duet::IoDriver::epoll);
  Failures f;
  {
    H2Server s(*rt, true);
    ClientConfig o;
    o.tls.ca_file = duet::tlstest::certs().ca;
    Client c(o);
    const std::string base = "https://localhost:" + std::to_string(s.port);
    rt->block_on(many_at_once(Model::stackless, c, base, f));
    // Offered h2 off: HTTP/1.1 on the same server.
    o.http2.over_tls = false;
    Client h1(o);
    auto r = rt->block_on(h1.send(base + "/v", Request::make(Method::get, "/")));
    CHECK(r);
    if (r) CHECK(r->body == "11");
    rt->drain(5s);
  }
  f.report();
}

TEST_CASE("client h2: a request past its deadline resets its stream alone", "[http_client][h2]") {
  duet::iotest::Watchdog wd("http_client h2");
  auto rt = duet::iotest::make_rt(duet::IoDriver::epoll);
  {
    H2Server s(*rt, false);
    Client c(h2c_config());
    const SocketAddr a = SocketAddr::v4_loopback(s.port);
    auto late = rt->block_on(c.send(a, Request::make(Method::get, "/park"), {.timeout = 200ms}));
    REQUIRE_FALSE(late);
    CHECK(duet::is_elapsed(late.error()));
    // The server's handler was cancelled by the reset; the connection goes on.
    rt->block_on(until(s.dropped, 1));  // the watchdog bounds it
    CHECK(s.dropped.load() == 1);
    auto next = rt->block_on(c.send(a, Request::make(Method::get, "/v")));
    CHECK(next);
    if (next) CHECK(next->body == "20");
    CHECK(c.stats().connects == 1);
    s.gate.cancel();
    rt->drain(5s);
  }
}

TEST_CASE("client h2: after the server's GOAWAY the next request opens a new connection",
          "[http_client][h2]") {
  duet::iotest::Watchdog wd("http_client h2");
  auto rt = duet::iotest::make_rt(duet::IoDriver::epoll);
  {
    // One stream per connection: GOAWAY after each.
    duet::http::ServerConfig so;
    so.max_requests_per_connection = 1;
    H2Server s(*rt, false, so);
    Client c(h2c_config());
    const SocketAddr a = SocketAddr::v4_loopback(s.port);
    for (int i = 0; i < 3; ++i) {
      auto r = rt->block_on(c.send(a, Request::make(Method::get, "/v")));
      CHECK(r);
      if (r) CHECK(r->body == "20");
    }
    CHECK(c.stats().connects == 3);
    rt->drain(5s);
  }
}

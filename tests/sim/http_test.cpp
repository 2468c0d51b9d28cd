// http_test.cpp: duet::http's server and client, unchanged, between two
// simulated hosts: a GET from a coroutine client and from a fiber client,
// against each of the server's three engines.
#include <catch2/catch.hpp>

#include <duet/http.hpp>

#include "sim_util.hpp"

using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

TEST_CASE("an HTTP GET between two simulated hosts, on each engine, from each model") {
  const duet::http::Engine engine =
      GENERATE(duet::http::Engine::coroutine, duet::http::Engine::fiber, duet::http::Engine::poll);
  duet::http::Router routes;
  routes.get("/hello", [](duet::http::Request&) -> duet::Task<duet::http::Response> {
    co_return duet::http::Response::text(200, "hello from the server host");
  });
  duet::http::ServerConfig opts;
  opts.engine = engine;
  duet::http::Server server(std::move(routes), opts);  // outlives the world's runtime
  duet::http::Client client;
  World w(WorldConfig{.seed = 21, .keep_trace = true});
  Host c = w.add_host("client");
  Host s = w.add_host("server");
  w.set_link(c, s, {.latency = std::chrono::milliseconds(10)});
  auto listener = duet::sim::as_host(
      s, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(8080)); });
  REQUIRE(listener);
  server.serve(w.runtime(), std::move(*listener));
  const duet::Instant t0 = duet::Clock::now();
  auto r = w.run(
      c, [](duet::http::Client& client, Host s) -> duet::Task<duet::Result<duet::http::Response>> {
        co_return co_await client.send(
            s.addr(8080), duet::http::Request::make(duet::http::Method::get, "/hello"));
      }(client, s));
  INFO((r ? std::string("ok") : r.error().message()));
  if (!r) {
    for (auto& l : w.trace()) UNSCOPED_INFO(l);
  }
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello from the server host");
  // A connect (one round trip) and the exchange (one more): 40 ms.
  CHECK(duet::Clock::now() - t0 >= std::chrono::milliseconds(40));
  auto f = w.run(c, duet::stackful, [&client, s] {
    return client.send_now(s.addr(8080),
                           duet::http::Request::make(duet::http::Method::get, "/hello"));
  });
  REQUIRE(f);
  CHECK(f->body == "hello from the server host");
  CHECK(client.stats().reused == 1);  // the fiber's GET went on the pooled connection
  client.clear();
}

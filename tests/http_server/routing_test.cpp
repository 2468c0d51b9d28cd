// routing_test.cpp: routes for every method, path parameters and decoded
// queries through a served Server, for every engine on both drivers, each
// route in both models (a coroutine handler and a plain one on a fiber):
// what the handlers read, 400 for a malformed escape with the connection
// kept, and 404 and 405 with Allow beside the patterns.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "server_fixture.hpp"

namespace routing_test {

using duet::http::Request;
using duet::http::Response;
namespace status = duet::http::status;

/// "name=value" pairs of what a handler read, for the test to compare.
std::string seen(const Request& q) {
  std::string out = std::string(duet::http::to_string(q.method));
  for (std::size_t i = 0; i < q.params.size(); ++i) {
    out += " " + std::string(q.params.name(i)) + "=" + std::string(q.params.value(i, q.path()));
  }
  for (const std::string& t : q.query_params("tag")) out += " tag=" + t;
  return out;
}

/// The same routes under "/c" (coroutine handlers) and "/p" (plain).
duet::http::Router routes(http_server_test::Probe&) {
  duet::http::Router r;
  for (const std::string base : {"/c", "/p"}) {
    const bool coro = base == "/c";
    // Every method at one pattern: the handler says what it read.
    auto echo = [coro]() -> duet::http::Handler {
      if (coro) {
        return [](Request& q) -> duet::Task<Response> {
          co_return Response::text(status::ok, seen(q));
        };
      }
      return [](Request& q) { return Response::text(status::ok, seen(q)); };
    };
    r.get(base + "/kv/{key}", echo())
        .put(base + "/kv/{key}", echo())
        .patch(base + "/kv/{key}", echo())
        .delete_(base + "/kv/{key}", echo())
        .options(base + "/kv/{key}", echo())
        .post(base + "/kv/{key}", echo());
    r.get(base + "/kv/all", echo());
    r.get(base + "/files/{*rest}", echo());
    // Typed: a non-numeric id is 404.
    if (coro) {
      r.get(base + "/users/{id}/posts/{post}", [](Request& q) -> duet::Task<Response> {
        const auto id = q.param<std::uint64_t>("id");
        if (!id) co_return Response::empty(status::not_found);
        co_return Response::text(status::ok,
                                 std::to_string(*id + 1) + " " + std::string(q.param("post")));
      });
    } else {
      r.get(base + "/users/{id}/posts/{post}", [](Request& q) {
        const auto id = q.param<std::uint64_t>("id");
        if (!id) return Response::empty(status::not_found);
        return Response::text(status::ok,
                              std::to_string(*id + 1) + " " + std::string(q.param("post")));
      });
    }
  }
  return r;
}

std::string request(std::string_view method, std::string_view target, bool body = false) {
  std::string s = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
  if (body)
    s += "Content-Length: 2\r\n\r\nhi";
  else
    s += "\r\n";
  return s;
}

}  // namespace routing_test

TEST_CASE("server: routes for every method with path parameters in both models", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server routing");
  http_server_test::Fixture f(engine, drv, routing_test::routes);
  http_server_test::Client c(f.port);
  for (const std::string base : {"/c", "/p"}) {
    INFO(base);
    for (const char* m : {"GET", "PUT", "PATCH", "DELETE", "OPTIONS", "POST"}) {
      const bool body = std::string_view(m) == "PUT" || std::string_view(m) == "POST" ||
                        std::string_view(m) == "PATCH";
      c.send(routing_test::request(m, base + "/kv/some%2Fkey?tag=a+b&tag=c%26d", body));
      const auto r = c.response();
      CHECK(r.status == 200);
      CHECK(r.body == std::string(m) + " key=some/key tag=a b tag=c&d");
    }
    c.send(routing_test::request("GET", base + "/kv/all"));  // the literal before {key}
    CHECK(c.response().body == "GET");
    c.send(routing_test::request("HEAD", base + "/kv/x"));  // a GET route answers HEAD
    auto h = c.response(/*head_only=*/true);
    CHECK(h.status == 200);
    CHECK(h.field("Content-Length") == "10");  // "HEAD key=x"
    c.send(routing_test::request("GET", base + "/files/a/b%20c.txt"));
    CHECK(c.response().body == "GET rest=a/b c.txt");
    c.send(routing_test::request("GET", base + "/users/41/posts/hello%21"));
    auto t = c.response();
    CHECK(t.status == 200);
    CHECK(t.body == "42 hello!");
    c.send(routing_test::request("GET", base + "/users/x/posts/1"));  // the handler's 404
    CHECK(c.response().status == 404);
    // A malformed escape is 400, and the connection goes on.
    c.send(routing_test::request("GET", base + "/kv/%zz"));
    CHECK(c.response().status == 400);
    c.send(routing_test::request("GET", base + "/kv/ok?tag=%g"));
    CHECK(c.response().status == 400);
    c.send(routing_test::request("GET", base + "/kv/ok"));
    CHECK(c.response().body == "GET key=ok");
    // 405 with Allow at a literal that lacks the method; 404 off the patterns.
    c.send(routing_test::request("DELETE", base + "/kv/all"));
    auto n = c.response();
    CHECK(n.status == 405);
    CHECK(n.field("Allow") == "GET, HEAD");
    c.send(routing_test::request("GET", base + "/kv"));
    CHECK(c.response().status == 404);
    c.send(routing_test::request("GET", base + "/files/"));
    CHECK(c.response().status == 404);
  }
  c.send("TRACE /c/kv/x HTTP/1.1\r\nHost: t\r\n\r\n");  // no route names TRACE
  CHECK(c.response().status == 501);
}

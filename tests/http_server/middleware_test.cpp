// middleware_test.cpp: layers around routes (Middleware, Handler::layer,
// Router::layer), per-route limits (RouteLimits: a body limit and a
// handler deadline) and the file and redirect responses, through a served
// Server on every engine and both drivers, each in both models: a
// coroutine layer and a plain one, each over a coroutine handler and a
// plain one.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

#include "alloc_tracker.hpp"
#include "server_fixture.hpp"

namespace middleware_test {

using duet::http::Handler;
using duet::http::Middleware;
using duet::http::Next;
using duet::http::Request;
using duet::http::Response;
namespace status = duet::http::status;

/// What the handlers and layers saw.
struct Seen {
  std::atomic<int> handled{0};  // handler calls
};
inline Seen seen;

/// A coroutine layer: 401 without "Authorization: yes" (the rest not
/// called); else marks the request, runs the rest, and marks the answer.
Middleware coroutine_auth() {
  return [](Request& req, Next next) -> duet::Task<Response> {
    if (req.headers.get("Authorization") != "yes") co_return Response::empty(status::unauthorized);
    req.headers.set("X-Seen", "coroutine");
    Response res = co_await next.run(req);
    res.headers.set("X-Coroutine-Layer", "1");
    co_return res;
  };
}

/// A plain layer: 403 with "X-Deny"; else as coroutine_auth.
Middleware plain_guard() {
  return [](Request& req, duet::http::Next next) {
    if (req.headers.contains("X-Deny")) return Response::empty(status::forbidden);
    req.headers.set("X-Seen", "plain");
    Response res = next.run_now(req);
    res.headers.set("X-Plain-Layer", "1");
    return res;
  };
}

/// The outermost layer of every route (Router::layer): a request id.
Middleware request_id() {
  return [](Request& req, duet::http::Next next) {
    Response res = next.run_now(req);
    res.headers.set("X-Request-Id", req.headers.get("X-Request-Id").value_or("none"));
    return res;
  };
}

Handler coroutine_handler() {
  return [](Request& req) -> duet::Task<Response> {
    co_await duet::yield_now();  // a wait inside the chain
    ++seen.handled;
    co_return Response::text(200, "c " + std::string(req.headers.get("X-Seen").value_or("-")));
  };
}

Handler plain_handler() {
  return [](Request& req) {
    duet::wait(duet::yield_now());  // a wait inside the chain, on its fiber
    ++seen.handled;
    return Response::text(200, "p " + std::string(req.headers.get("X-Seen").value_or("-")));
  };
}

duet::http::Router layered(http_server_test::Probe&) {
  duet::http::Router r;
  r.get("/cc", coroutine_handler().layer(coroutine_auth()));
  r.get("/cp", plain_handler().layer(coroutine_auth()));
  r.get("/pc", coroutine_handler().layer(plain_guard()));
  r.get("/pp", plain_handler().layer(plain_guard()));
  r.get("/bare", coroutine_handler());
  r.layer(request_id());
  return r;
}

std::string get(std::string_view path, std::string_view fields = {}) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\nX-Request-Id: r7\r\n" +
         std::string(fields) + "\r\n";
}

std::string post(std::string_view path, std::size_t n) {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" +
         std::string(n, 'x');
}

/// A chunked POST of `n` bytes, in chunks of 16 KiB.
std::string post_chunked(std::string_view path, std::size_t n) {
  std::string s =
      "POST " + std::string(path) + " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  while (n > 0) {
    const std::size_t k = std::min<std::size_t>(n, 16 * 1024);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", k);
    s += size;
    s.append(k, 'y');
    s += "\r\n";
    n -= k;
  }
  return s + "0\r\n\r\n";
}

/// The body's length read whole (either model), or 413 when the reader
/// says it ran past the route's limit.
Handler length_coroutine() {
  return [](Request& req) -> duet::Task<Response> {
    duet::Result<void> w = co_await duet::http::read_whole_body(req, 1 << 30);
    if (!w) co_return Response::empty(status::content_too_large);
    co_return Response::text(200, std::to_string(req.body.size()));
  };
}
Handler length_plain() {
  return [](Request& req) {
    duet::Result<void> w = duet::http::read_whole_body_now(req, 1 << 30);
    if (!w) return Response::empty(status::content_too_large);
    return Response::text(200, std::to_string(req.body.size()));
  };
}

duet::http::Router limited(http_server_test::Probe& p) {
  duet::http::Router r;
  r.post("/c/small", length_coroutine());
  r.post("/p/small", length_plain());
  r.post("/c/big", length_coroutine().max_body_bytes(300'000));
  r.post("/p/big", length_plain().max_body_bytes(300'000));
  r.post("/c/mid", length_coroutine().max_body_bytes(100'000));
  r.post("/p/mid", length_plain().max_body_bytes(100'000));
  r.post("/c/tiny", length_coroutine().max_body_bytes(10));
  r.post("/p/tiny", length_plain().max_body_bytes(10));
  // Handlers that wait for what never comes: their deadline answers.
  r.get("/c/stuck", Handler([&p](Request&) -> duet::Task<Response> {
                      ++p.gate_entered;
                      co_await p.gate.cancelled();
                      co_return Response::text(200, "late");
                    }).deadline(std::chrono::milliseconds(50)));
  r.get("/p/stuck", Handler([&p](Request&) {
                      ++p.gate_entered;
                      duet::wait(p.gate.cancelled());
                      return Response::text(200, "late");
                    }).deadline(std::chrono::milliseconds(50)));
  r.get("/c/quick", coroutine_handler().deadline(std::chrono::seconds(30)));
  r.get("/p/quick", plain_handler().deadline(std::chrono::seconds(30)));
  r.get("/plain", plain_handler());
  return r;
}

}  // namespace middleware_test

using namespace middleware_test;

TEST_CASE("middleware: coroutine and plain layers over coroutine and fiber handlers",
          "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server middleware");
  http_server_test::Fixture f(engine, drv, layered);
  http_server_test::Client c(f.port);
  // Each layer kind over each handler kind: the request edited before the
  // handler, the response after it, the router's layer outermost.
  const struct {
    const char* path;
    const char* body;
    const char* mark;
  } cases[] = {{"/cc", "c coroutine", "X-Coroutine-Layer"},
               {"/cp", "p coroutine", "X-Coroutine-Layer"},
               {"/pc", "c plain", "X-Plain-Layer"},
               {"/pp", "p plain", "X-Plain-Layer"}};
  for (const auto& k : cases) {
    INFO(k.path);
    c.send(get(k.path, "Authorization: yes\r\n"));
    const auto r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == k.body);
    CHECK(r.field(k.mark) == "1");
    CHECK(r.field("X-Request-Id") == "r7");
  }
  c.send(get("/bare"));
  const auto bare = c.response();
  CHECK(bare.body == "c -");
  CHECK(bare.field("X-Request-Id") == "r7");
  // Short-circuits: the layer answers, the handler never runs, the
  // connection goes on.
  const int before = seen.handled.load();
  c.send(get("/cc"));
  CHECK(c.response().status == 401);
  c.send(get("/cp"));
  const auto denied = c.response();
  CHECK(denied.status == 401);
  CHECK(denied.field("X-Request-Id") == "r7");  // outer layers still see the answer
  c.send(get("/pc", "X-Deny: 1\r\n"));
  CHECK(c.response().status == 403);
  c.send(get("/pp", "X-Deny: 1\r\n"));
  CHECK(c.response().status == 403);
  CHECK(seen.handled.load() == before);
  // A router refusal meets no layer.
  c.send(get("/none"));
  const auto missing = c.response();
  CHECK(missing.status == 404);
  CHECK(missing.field("X-Request-Id").empty());
}

TEST_CASE("middleware: a route's body limit over or under the server's", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server route body limit");
  duet::http::ServerConfig o;
  o.limits.max_body_bytes = 20'000;
  http_server_test::Fixture f(engine, drv, limited, o);
  for (const std::string m : {"/c", "/p"}) {
    INFO(m);
    // 200 000 bytes (streamed, by Content-Length): past the server's limit
    // at one route, within its own at another.
    {
      http_server_test::Client c(f.port);
      c.send(post(m + "/small", 200'000));
      CHECK(c.response().status == 413);
    }
    {
      http_server_test::Client c(f.port);
      c.send(post(m + "/big", 200'000));
      const auto r = c.response();
      CHECK(r.status == 200);
      CHECK(r.body == "200000");
    }
    // Chunked: the decoder admits up to the largest route's limit; the
    // route's own stops the reader (413 from the handler here).
    {
      http_server_test::Client c(f.port);
      c.send(post_chunked(m + "/mid", 150'000));
      CHECK(c.response().status == 413);
    }
    {
      http_server_test::Client c(f.port);
      c.send(post_chunked(m + "/big", 150'000));
      CHECK(c.response().body == "150000");
    }
    // A route's limit below the server's, the body whole (not streamed).
    {
      http_server_test::Client c(f.port);
      c.send(post(m + "/tiny", 20));
      CHECK(c.response().status == 413);
    }
    {
      http_server_test::Client c(f.port);
      c.send(post(m + "/tiny", 10));
      CHECK(c.response().body == "10");
    }
  }
}

TEST_CASE("middleware: a handler past its route's deadline is answered 503", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server route deadline");
  http_server_test::Fixture f(engine, drv, limited);
  for (const std::string m : {"/c", "/p"}) {
    INFO(m);
    http_server_test::Client c(f.port);
    // A deadline not reached: the answer, and a later request on the same
    // connection (with none) is not cut by it.
    c.send(get(m + "/quick"));
    CHECK(c.response().status == 200);
    c.send(get("/plain"));
    CHECK(c.response().status == 200);
    // Past it: the handler (stuck) is cancelled, the client gets 503 and
    // the connection closes.
    c.send(get(m + "/stuck"));
    const auto r = c.response();
    CHECK(r.status == 503);
    CHECK(r.field("Connection") == "close");
  }
  CHECK(f.probe.gate_entered.load() == 2);
  CHECK(f.finish() == 0);  // nothing left running for the drain to cancel
}

TEST_CASE("middleware: file_response and redirect in both models", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server file response");
  char tmpl[] = "/tmp/duet_file_response_XXXXXX";
  const int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  ::close(fd);
  const std::string path = tmpl;
  std::string content;
  for (int i = 0; i < 100'000; ++i) content += static_cast<char>('a' + i % 26);
  std::ofstream(path) << content;
  http_server_test::Fixture f(engine, drv, [&path](http_server_test::Probe&) {
    duet::http::Router r;
    r.get("/c/file", [&path](Request&) -> duet::Task<Response> {
      co_return co_await duet::http::file_response(path, "text/plain; charset=utf-8");
    });
    r.get("/p/file", [&path](Request&) {
      return duet::http::file_response_now(path, "text/plain; charset=utf-8");
    });
    r.get("/c/missing", [&path](Request&) -> duet::Task<Response> {
      co_return co_await duet::http::file_response(path + ".none", "text/plain");
    });
    r.get("/old", [](Request&) { return Response::redirect("/new", status::permanent_redirect); });
    return r;
  });
  http_server_test::Client c(f.port);
  for (const std::string m : {"/c", "/p"}) {
    c.send(get(m + "/file"));
    const auto r = c.response();
    CHECK(r.status == 200);
    CHECK(r.field("Content-Type") == "text/plain; charset=utf-8");
    CHECK(r.field("Content-Length") == "100000");
    CHECK(r.body == content);
  }
  c.send(get("/c/missing"));
  CHECK(c.response().status == 404);
  c.send(get("/old"));
  const auto moved = c.response();
  CHECK(moved.status == 308);
  CHECK(moved.field("Location") == "/new");
  ::unlink(path.c_str());
}

TEST_CASE("middleware: redirect and json_quote refuse and escape", "[http_server]") {
  CHECK(Response::redirect("/a").status == 302);
  CHECK(Response::redirect("/a").headers.get("Location") == "/a");
  CHECK_THROWS_AS(Response::redirect("/a", 200), std::invalid_argument);
  CHECK_THROWS_AS(Response::redirect("/a\r\nSet-Cookie: x"), std::invalid_argument);
  CHECK(duet::http::json_quote("a\"b\\c\n\x01\xc3\xa9") == "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
}

TEST_CASE("middleware: a plain layer adds no allocation to a request", "[http_server]") {
  if (!duet::test::alloc_tracking_enabled()) {
    WARN("SKIP: operator new is not counted in this build");
    return;
  }
  duet::http::Router r;
  r.get("/bare", [](Request&) { return Response::empty(204); });
  r.get("/layered", Handler([](Request&) {
                      return Response::empty(204);
                    }).layer([](Request& req, duet::http::Next next) {
    Response res = next.run_now(req);
    res.status = 200;
    return res;
  }));
  Request req;
  const auto calls = [&](std::string_view path) {
    const duet::http::Router::Match m = r.find(duet::http::Method::get, path);
    REQUIRE(m.handler != nullptr);
    const std::int64_t before = duet::test::alloc_counts().news;
    const Response res = m.handler->fiber()(req);
    const std::int64_t after = duet::test::alloc_counts().news;
    return std::pair(res.status, after - before);
  };
  const auto bare = calls("/bare");
  const auto layered = calls("/layered");
  CHECK(bare.first == 204);
  CHECK(layered.first == 200);
  CHECK(layered.second == bare.second);
}

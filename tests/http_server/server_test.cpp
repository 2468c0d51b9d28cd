// server_test.cpp: duet::http's Server end to end over loopback, for every
// engine on both drivers, with coroutine and plain handlers: the routes,
// pipelining, bodies, the codec's refusals answered and closed, the
// deadlines (on the manual test clock), the caps, the hooks, a handler
// that throws, the drain, TLS, and many connections with their
// descriptors given back.
#include <catch2/catch.hpp>
#include <chrono>
#include <duet/dump.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.hpp"
#include "tls_peer.hpp"

using duet::http::Engine;
using http_server_test::Client;
using http_server_test::Fixture;
using http_server_test::test_server_tls;
using namespace std::chrono_literals;

namespace {

std::string get(std::string_view path, std::string_view extra = {}) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

/// Runs `body(fixture)` on a fresh server and checks that the descriptors
/// come back to their count before the first client, and that the drain at
/// the end cancelled nothing.
template <class F>
void with_server(Engine e, duet::IoDriver d, duet::http::ServerConfig o, F body) {
  Fixture f(e, d, std::move(o));
  const int fds_before = duet::iotest::fd_count();
  body(f);
  CHECK(duet::iotest::settled_fd_count(fds_before) == fds_before);
  CHECK(f.finish() == 0);
}

}  // namespace

TEST_CASE("server: plaintext and json from coroutine and plain handlers", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    for (const char* suffix : {"", "-plain"}) {
      c.send(get(std::string("/plaintext") + suffix));
      auto r = c.response();
      CHECK(r.status == 200);
      CHECK(r.body == "Hello, World!");
      CHECK(r.field("Content-Type") == "text/plain");
      CHECK(r.field("Content-Length") == "13");
      c.send(get(std::string("/json") + suffix));
      r = c.response();
      CHECK(r.status == 200);
      CHECK(r.body == R"({"message":"Hello, World!"})");
      CHECK(r.field("Content-Type") == "application/json");
    }
    CHECK(f.server->stats().requests == 4);
  });
}

TEST_CASE("server: pipelined requests are answered in order", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    std::string batch;
    for (int i = 0; i < 60; ++i) {
      batch += get(i % 3 == 0 ? "/plaintext" : i % 3 == 1 ? "/json-plain" : "/files/x");
    }
    c.send(batch);
    for (int i = 0; i < 60; ++i) {
      auto r = c.response();
      REQUIRE(r.status == 200);
      CHECK(r.body == (i % 3 == 0   ? "Hello, World!"
                       : i % 3 == 1 ? R"({"message":"Hello, World!"})"
                                    : "/files/x"));
    }
  });
}

TEST_CASE("server: requests around the idle read's size are read whole after each idle gap",
          "[http_server]") {
  // The coroutine and fiber engines read an idle connection's first bytes
  // into a small array and take a read buffer only for what does not fit:
  // requests that end just before, at and past that read's end, one at a
  // time (the connection idle between) and then two in one write.
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    const std::string base = get("/files/x", "X-Pad: \r\n");
    for (std::size_t size : {200, 255, 256, 257, 300, 511, 512, 513, 5000}) {
      const std::string req =
          get("/files/x", "X-Pad: " + std::string(size - base.size(), 'p') + "\r\n");
      REQUIRE(req.size() == size);
      c.send(req);
      auto r = c.response();
      REQUIRE(r.status == 200);
      CHECK(r.body == "/files/x");
      c.send(req + get("/plaintext"));
      r = c.response();
      REQUIRE(r.status == 200);
      CHECK(r.body == "/files/x");
      r = c.response();
      REQUIRE(r.status == 200);
      CHECK(r.body == "Hello, World!");
    }
  });
}

TEST_CASE("server: 404, 405 with Allow, 501, HEAD and prefix routes", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    c.send(get("/nope"));
    CHECK(c.response().status == 404);
    c.send("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    auto r = c.response();
    CHECK(r.status == 405);
    CHECK(r.field("Allow") == "GET, HEAD, PUT");
    c.send("DELETE /json HTTP/1.1\r\nHost: t\r\n\r\n");  // no route names DELETE
    CHECK(c.response().status == 501);
    c.send("PUT /json HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    CHECK(c.response().status == 204);
    c.send("HEAD /plaintext-plain HTTP/1.1\r\nHost: t\r\n\r\n" + get("/plaintext"));
    auto h = c.response(/*head_only=*/true);
    CHECK(h.status == 200);
    CHECK(h.field("Content-Length") == "13");
    r = c.response();  // right after the head: no body came between
    CHECK(r.body == "Hello, World!");
    c.send(get("/files/a/b"));
    CHECK(c.response().body == "/files/a/b");
  });
}

TEST_CASE("server: bodies by Content-Length and chunked reach the handler", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    const std::string big(20000, 'b');
    for (const char* path : {"/echo", "/echo-plain"}) {
      INFO(path);
      c.send(std::string("POST ") + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " +
             std::to_string(big.size()) + "\r\n\r\n" + big);
      CHECK(c.response().body == big);
      c.send(std::string("POST ") + path +
             " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
      CHECK(c.response().body == "hello world");
    }
  });
}

TEST_CASE("server: Expect 100-continue is answered before the body", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    CHECK(c.response(/*head_only=*/true).status == 100);
    c.send("body");
    CHECK(c.response().body == "body");
  });
}

TEST_CASE("server: HTTP/1.0 closes unless it asks for keep-alive", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    c.send("GET /plaintext HTTP/1.0\r\n\r\n");
    CHECK(c.response().status == 200);
    CHECK(c.closed());
    Client k(f.port);
    k.send("GET /plaintext-plain HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(k.response().field("Connection") == "keep-alive");
    k.send("GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(k.response().status == 200);
  });
}

TEST_CASE("server: smuggling shapes and the limits are answered and closed", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  duet::http::ServerConfig o;
  o.limits.max_header_bytes = 1024;
  o.limits.max_body_bytes = 1000;
  with_server(engine, drv, o, [](Fixture& f) {
    const std::pair<int, std::string> bad[] = {
        {400,
         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n"},
        {400,
         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
        {400, "GET /json HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n"},
        {400, "GET /json HTTP/1.1\r\n\r\n"},
        {400, "GARBAGE\r\n\r\n"},
        {431, "GET /json HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n"},
        {413, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"},
    };
    for (const auto& [status, req] : bad) {
      INFO("request " << req.substr(0, 80));
      Client c(f.port);
      c.send(req);
      auto r = c.response();
      CHECK(r.status == status);
      CHECK(r.field("Connection") == "close");
      CHECK(c.closed());
    }
  });
}

TEST_CASE("server: a handler that throws gets 500 and the connection goes on", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    for (const char* path : {"/throw", "/throw-plain"}) {
      c.send(get(path));
      CHECK(c.response().status == 500);
      c.send(get("/plaintext"));
      CHECK(c.response().body == "Hello, World!");
    }
  });
}

TEST_CASE("server: a cancelled handler gets 503 with Connection close", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    for (const char* path : {"/cancel", "/cancel-plain"}) {
      INFO(path);
      Client c(f.port);
      c.send(get(path) + get("/plaintext"));
      auto r = c.response();
      CHECK(r.status == 503);
      CHECK(r.field("Connection") == "close");
      CHECK(c.closed());  // the pipelined request is not answered
    }
  });
}

TEST_CASE("server: an answer made is written while a later pipelined handler waits",
          "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    for (const char* path : {"/gate", "/gate-plain"}) {
      INFO(path);
      // The last path's handler is done with the gate before a new one.
      while (f.probe.gate_left.load() != f.probe.gate_entered.load()) std::this_thread::yield();
      f.probe.gate = duet::CancellationToken();
      f.probe.gate_entered = 0;
      f.probe.gate_left = 0;
      Client c(f.port);
      c.send(get("/plaintext") + get(path));
      // /plaintext's answer arrives while the gate is still shut.
      CHECK(c.response().body == "Hello, World!");
      while (f.probe.gate_entered.load() != 1) std::this_thread::yield();
      f.probe.gate.cancel();
      CHECK(c.response().body == "gate");
      c.send(get("/plaintext"));  // the connection goes on
      CHECK(c.response().body == "Hello, World!");
    }
  });
}

TEST_CASE("server: max_requests_per_connection closes after the last", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  duet::http::ServerConfig o;
  o.max_requests_per_connection = 3;
  with_server(engine, drv, o, [](Fixture& f) {
    Client c(f.port);
    c.send(get("/plaintext") + get("/json-plain") + get("/plaintext") + get("/plaintext"));
    CHECK(c.response().field("Connection") != "close");
    CHECK(c.response().field("Connection") != "close");
    CHECK(c.response().field("Connection") == "close");
    CHECK(c.closed());  // the fourth is not answered
  });
}

TEST_CASE("server: max_connections closes a connection past the cap at once", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  duet::http::ServerConfig o;
  o.max_connections = 2;
  with_server(engine, drv, o, [](Fixture& f) {
    Client a(f.port), b(f.port);
    a.send(get("/plaintext"));
    b.send(get("/plaintext"));
    CHECK(a.response().status == 200);
    CHECK(b.response().status == 200);
    Client over(f.port);
    CHECK(over.closed());
    CHECK(f.server->stats().refused_over_cap == 1);
    CHECK(f.server->stats().open == 2);
    a.close();
    // Once a's place is given back, a new connection is served.
    while (f.server->stats().open != 1) std::this_thread::yield();
    Client later(f.port);
    later.send(get("/json"));
    CHECK(later.response().status == 200);
  });
}

TEST_CASE("server: hooks see every answer with its status and body bytes", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  with_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    c.send(get("/plaintext") + get("/nope") + "HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n" +
           get("/throw-plain"));
    CHECK(c.response().status == 200);
    CHECK(c.response().status == 404);
    CHECK(c.response(true).status == 200);
    CHECK(c.response().status == 500);
    std::lock_guard lk(f.probe.mu);
    REQUIRE(f.probe.log.size() == 4);
    CHECK(f.probe.log[0] == std::pair<int, std::size_t>(200, 13));
    CHECK(f.probe.log[1].first == 404);
    CHECK(f.probe.log[2] == std::pair<int, std::size_t>(200, 0));  // HEAD: no body sent
    CHECK(f.probe.log[3].first == 500);
    CHECK(f.probe.log_paths[1] == "/nope");
  });
}

TEST_CASE("server: the I/O timeout closes idle and trickling clients", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  // The manual clock: time moves only by rt.advance, so "idle for the whole
  // timeout" is a step of the test, not a sleep.
  duet::http::ServerConfig o;
  o.limits.io_timeout = 1000ms;
  Fixture f(engine, drv, o, duet::ClockMode::manual);
  const int fds_before = duet::iotest::fd_count();
  {
    Client idle(f.port);
    idle.send(get("/plaintext"));  // served, then idle
    CHECK(idle.response().status == 200);
    // A slowloris client: a byte of a head every 300 ms, each well within
    // the timeout; the head's one deadline still closes it. A deadline per
    // read would never close it.
    Client slow(f.port);
    const std::string head = "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: sssssssssssssss";
    bool closed = false;
    for (std::size_t i = 0; i < 12 && !closed; ++i) {
      if (::send(slow.fd(), &head[i], 1, MSG_NOSIGNAL) != 1) break;
      f.rt->advance(300ms);
      closed = slow.readable_within(i < 6 ? 0 : 2000) && slow.closed();
    }
    CHECK(closed);
    // The idle one's deadline passed long ago: closed with no answer.
    CHECK(idle.readable_within(5000));
    CHECK(idle.closed());
  }
  CHECK(duet::iotest::settled_fd_count(fds_before) == fds_before);
  CHECK(f.finish() == 0);
}

TEST_CASE("server: the drain closes idle connections and finishes one in flight", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  const char* slow_path = GENERATE("/slow", "/slow-plain");
  INFO(slow_path);
  Fixture f(engine, drv);
  Client idle(f.port);
  idle.send(get("/plaintext"));
  CHECK(idle.response().status == 200);
  Client busy(f.port);
  busy.send(get(slow_path));
  while (f.probe.slow_entered.load() != 1) std::this_thread::yield();
  std::size_t cancelled = 99;
  std::thread drainer([&] { cancelled = f.finish(); });
  auto r = busy.response();
  CHECK(r.status == 200);
  CHECK(r.body == "slow");
  CHECK(r.field("Connection") == "close");
  CHECK(busy.closed());
  busy.close();
  CHECK(idle.closed());
  drainer.join();
  CHECK(cancelled == 0);
  // The listener is closed: nothing is accepted any more.
  CHECK(f.server->stats().open == 0);
}

TEST_CASE("server: HTTPS serves the routes on a TLS listener", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  auto ctx = test_server_tls();
  if (!ctx) return;
  const auto& certs = duet::tlstest::certs();
  Fixture f(engine, drv);
  const std::uint16_t port = f.serve_tls(*ctx);
  const int fds_before = duet::iotest::fd_count();
  const std::string got = f.rt->block_on(http_test::https_exchange(
      port, certs.ca,
      "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /json-plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  INFO("received " << got);
  CHECK(got.find("HTTP/1.1 200 OK") == 0);
  CHECK(got.find("\r\n\r\nHello, World!HTTP/1.1 200 OK") != std::string::npos);
  CHECK(got.ends_with(R"({"message":"Hello, World!"})"));
  CHECK(duet::iotest::settled_fd_count(fds_before) == fds_before);
  CHECK(f.finish() == 0);
}

TEST_CASE("server: a TLS connection holds its place from accept to close, handshake failed or not",
          "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  auto ctx = test_server_tls();
  if (!ctx) return;
  const auto& certs = duet::tlstest::certs();
  Fixture f(engine, drv);
  const std::uint16_t port = f.serve_tls(*ctx);
  {
    // Not a ClientHello: the handshake fails and the server closes.
    Client c(port);
    c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    (void)c.until_close();
  }
  while (f.server->stats().open != 0) std::this_thread::yield();
  CHECK(f.server->stats().accepted == 1);
  // A handshake that succeeds: the connection is open until it closes.
  const std::string got = f.rt->block_on(http_test::https_exchange(
      port, certs.ca, "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  CHECK(got.find("HTTP/1.1 200 OK") == 0);
  while (f.server->stats().open != 0) std::this_thread::yield();
  CHECK(f.server->stats().accepted == 2);
  CHECK(f.finish() == 0);
}

namespace {

/// A TLS client that gets /plaintext on a kept-alive connection, then,
/// holding it open and idle, returns the server's count of open
/// connections (-1 when the exchange failed).
duet::Task<long> open_while_idle_tls(std::uint16_t port, std::string ca,
                                     const duet::http::Server& server) {
  duet::tls::ClientConfig cc;
  cc.ca_file = std::move(ca);
  auto ctx = duet::tls::TlsContext::client(cc);
  if (!ctx) co_return -1;
  auto tcp = co_await duet::net::TcpStream::connect(duet::net::SocketAddr::v4_loopback(port));
  if (!tcp) co_return -1;
  auto s = co_await ctx->connect(std::move(*tcp), "localhost", std::chrono::seconds(10));
  if (!s) co_return -1;
  const std::string req = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
  auto w = co_await s->write_all(req.data(), req.size());
  if (!w) co_return -1;
  std::string got;
  char buf[4096];
  while (got.find("Hello, World!") == std::string::npos) {
    auto n = co_await s->read(buf, sizeof buf);
    if (!n || *n == 0) co_return -1;
    got.append(buf, *n);
  }
  co_return static_cast<long>(server.stats().open);
}

}  // namespace

TEST_CASE("server: an idle TLS connection keeps its place after its handshake", "[http_server]") {
  // Each engine hands the connection's place from the handshake to the
  // connection's own task: the count must not drop when the handshake's
  // part ends.
  HTTP_ENGINE_MATRIX("http_server");
  auto ctx = test_server_tls();
  if (!ctx) return;
  const auto& certs = duet::tlstest::certs();
  Fixture f(engine, drv);
  const std::uint16_t port = f.serve_tls(*ctx);
  const long open = f.rt->block_on(open_while_idle_tls(port, certs.ca, *f.server));
  CHECK(open == 1);
  while (f.server->stats().open != 0) std::this_thread::yield();
  CHECK(f.server->stats().accepted == 1);
  CHECK(f.finish() == 0);
}

namespace {

/// A TLS client's connection that got /plaintext and is kept open, idle.
duet::Task<std::optional<duet::tls::TlsStream>> idle_tls(std::uint16_t port, std::string ca) {
  duet::tls::ClientConfig cc;
  cc.ca_file = std::move(ca);
  auto ctx = duet::tls::TlsContext::client(cc);
  if (!ctx) co_return std::nullopt;
  auto tcp = co_await duet::net::TcpStream::connect(duet::net::SocketAddr::v4_loopback(port));
  if (!tcp) co_return std::nullopt;
  auto s = co_await ctx->connect(std::move(*tcp), "localhost", std::chrono::seconds(10));
  if (!s) co_return std::nullopt;
  const std::string req = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
  if (!co_await s->write_all(req.data(), req.size())) co_return std::nullopt;
  std::string got;
  char buf[4096];
  while (got.find("Hello, World!") == std::string::npos) {
    auto n = co_await s->read(buf, sizeof buf);
    if (!n || *n == 0) co_return std::nullopt;
    got.append(buf, *n);
  }
  co_return std::move(*s);
}

/// What the dump shows of the runtime's tasks: how many, and how many
/// coroutine frames they wait in.
struct TaskShape {
  std::size_t tasks = 0, frames = 0;
  bool all_parked = false;  // every task has parked once (none queued or running)
  friend bool operator==(const TaskShape&, const TaskShape&) = default;
};
TaskShape shape(duet::Runtime& rt) {
  std::ostringstream os;
  TaskShape t;
  t.tasks = duet::dump_tasks(rt, os);
  std::istringstream lines(os.str());
  for (std::string l; std::getline(lines, l);) {
    if (l.starts_with("  #") || l.starts_with("  waits in")) ++t.frames;
    // The trailer: "N live tasks, all above" (RuntimeConfig::list_all_tasks),
    // else "N live tasks: n above (...), u not parked yet (...)".
    if (l.ends_with("live tasks, all above") || l.find(", 0 not parked yet") != std::string::npos) {
      t.all_parked = true;
    }
  }
  return t;
}
/// The shape once it holds `tasks` tasks, each parked, and no longer
/// changes (a task just spawned has not run yet; a connection that just
/// answered settles into its idle wait). The bound is a watchdog, not a
/// count of tries: a loaded machine (a sanitizer, a build beside) may take
/// many yields to run the tasks, and the case must still decide; past it,
/// the shape returned fails the case's checks.
TaskShape settled_shape(duet::Runtime& rt, std::size_t tasks) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  TaskShape last = shape(rt);
  for (int same = 0; same < 20 && std::chrono::steady_clock::now() < give_up;) {
    std::this_thread::yield();
    const TaskShape now = shape(rt);
    same = now == last && now.tasks == tasks && now.all_parked ? same + 1 : 0;
    last = now;
  }
  return last;
}

}  // namespace

TEST_CASE("server: an idle TLS connection holds what an idle plain one does, its handshake gone",
          "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  auto ctx = test_server_tls();
  if (!ctx) return;
  const auto& certs = duet::tlstest::certs();
  // Idle connections are kept past the whole case, however slowly a
  // sanitizer runs the dumps (the default read timeout would close them).
  duet::http::ServerConfig o;
  o.limits.io_timeout = std::chrono::minutes(10);
  Fixture f(engine, drv, o);
  const std::uint16_t tls_port = f.serve_tls(*ctx);
  const TaskShape none = settled_shape(*f.rt, 2);  // the two accept loops
  Client c(f.port);
  c.send(get("/plaintext"));
  CHECK(c.response().status == 200);
  const TaskShape plain = settled_shape(*f.rt, 3);
  duet::RuntimeConfig cfg;
  cfg.workers = 1;
  duet::Runtime client_rt(cfg);
  auto s = client_rt.block_on(idle_tls(tls_port, certs.ca));
  REQUIRE(s);
  const TaskShape both = settled_shape(*f.rt, 4);
  CHECK(plain.tasks - none.tasks == 1);
  CHECK(both.tasks - plain.tasks == 1);
  CHECK(both.frames - plain.frames == plain.frames - none.frames);
  client_rt.block_on([&]() -> duet::Task<void> {
    s.reset();
    co_return;
  }());
}

TEST_CASE("server: 200 connections at once, each served, none left open", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server");
  duet::iotest::raise_nofile();
  with_server(engine, drv, {}, [](Fixture& f) {
    std::vector<std::unique_ptr<Client>> cs;
    for (int i = 0; i < 200; ++i) cs.push_back(std::make_unique<Client>(f.port));
    for (std::size_t i = 0; i < cs.size(); ++i)
      cs[i]->send(get(i % 2 ? "/plaintext" : "/json-plain"));
    for (std::size_t i = 0; i < cs.size(); ++i) {
      CHECK(cs[i]->response().status == 200);
    }
    CHECK(f.server->stats().open == 200);
    cs.clear();
    while (f.server->stats().open != 0) std::this_thread::yield();
    CHECK(f.server->stats().accepted == 200);
  });
}

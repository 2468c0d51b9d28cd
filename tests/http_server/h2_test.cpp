// h2_test.cpp: HTTP/2 (docs/http.md, "HTTP/2"): h2c with prior knowledge
// and h2 over TLS by ALPN, the same Router and handlers of both models as
// HTTP/1.1, one task per stream, bodies both ways under flow control,
// RST_STREAM cancelling a stream's task, GOAWAY on drain, and the known
// attacks (rapid reset, a stream flood, a CONTINUATION flood, an HPACK
// bomb, ping and SETTINGS floods, a shut window), each bounded with other
// connections served. Clients: tests/support/h2_peer.hpp (nghttp2's
// client, and hand-made frames). The connection is one coroutine under
// every engine, so one case runs them all and the rest run one.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>

#include "h2_peer.hpp"
#include "server_fixture.hpp"
#include "tls_peer.hpp"

namespace {

using namespace http_server_test;
using duet::http::Request;
using duet::http::Response;

/// io_uring where the kernel has it, else epoll: the HTTP/2 connection is
/// the same coroutine over either (the first case runs both).
duet::IoDriver a_driver() {
  return duet::iotest::driver_available(duet::IoDriver::io_uring) ? duet::IoDriver::io_uring
                                                                  : duet::IoDriver::epoll;
}

/// Counts the frames of handlers dropped or unwound (RST_STREAM, a deadline).
struct DropGuard {
  std::atomic<int>* dropped;
  ~DropGuard() { dropped->fetch_add(1); }
};

/// test_routes, and the routes of this file: /park (a handler that waits
/// on the gate, counting its end in `dropped`, both models) and /late (a
/// 50 ms deadline).
Fixture::Routes h2_routes(std::atomic<int>& dropped) {
  return [&dropped](Probe& p) {
    duet::http::Router r = test_routes(p, nullptr);
    r.get("/park", [&p, &dropped](Request&) -> duet::Task<Response> {
      DropGuard g{&dropped};
      p.gate_entered.fetch_add(1);
      co_await p.gate.cancelled();
      co_return Response::text(200, "parked");
    });
    r.get("/park-plain", [&p, &dropped](Request&) {
      DropGuard g{&dropped};
      p.gate_entered.fetch_add(1);
      duet::wait(p.gate.cancelled());
      return Response::text(200, "parked");
    });
    r.get("/fields", [](Request& q) {
      return Response::text(200, std::string(q.headers.get("cookie").value_or("-")) + "|" +
                                     std::string(q.headers.get("host").value_or("-")) + "|" +
                                     std::to_string(q.headers.size()) + "|" +
                                     std::to_string(q.version));
    });
    r.get("/late", duet::http::Handler([&p](Request&) -> duet::Task<Response> {
                     co_await p.gate.cancelled();
                     co_return Response::text(200, "on time");
                   }).deadline(std::chrono::milliseconds(50)));
    return r;
  };
}

}  // namespace

TEST_CASE("h2: prior knowledge serves both kinds of handler with HTTP/1.1 beside it",
          "[http_server][h2]") {
  HTTP_ENGINE_MATRIX("h2");
  Fixture f(engine, drv);
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  const auto a = c.get("/plaintext");
  const auto b = c.get("/plaintext-plain");
  const auto j = c.get("/json");
  REQUIRE(c.wait(a));
  REQUIRE(c.wait(b));
  REQUIRE(c.wait(j));
  for (const auto id : {a, b}) {
    const h2_test::Reply& r = c.reply(id);
    CHECK(r.status == 200);
    CHECK(r.body == "Hello, World!");
    CHECK(r.header("content-length") == "13");
    CHECK(r.header("server") == "duet");
    CHECK(r.header("date").has_value());
    CHECK(r.header("content-type") == "text/plain");
  }
  CHECK(c.reply(j).body == R"({"message":"Hello, World!"})");
  // HTTP/1.1 on the same listener.
  Client h1(f.port);
  h1.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  Reply r1 = h1.response();
  CHECK(r1.status == 200);
  CHECK(f.finish() == 0);
  std::lock_guard lk(f.probe.mu);
  CHECK(f.probe.log.size() == 4);  // the hook saw every answer, both protocols
}

TEST_CASE("h2: the handler sees HTTP/1.1's fields: Host from :authority and cookies joined",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  std::atomic<int> dropped{0};
  Fixture f(duet::http::Engine::coroutine, a_driver(), h2_routes(dropped));
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  const auto id =
      c.request("GET", "/fields", {}, {{"cookie", "a=1"}, {"x-other", "o"}, {"cookie", "b=2"}});
  REQUIRE(c.wait(id));
  // cookie (joined), x-other, host: three fields; version 20.
  CHECK(c.reply(id).body == "a=1; b=2|localhost|3|20");
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: a hundred streams on one connection run their handlers at once",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  Fixture f(duet::http::Engine::coroutine, a_driver());
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  std::vector<std::int32_t> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(c.get(i % 2 == 0 ? "/gate" : "/gate-plain"));
  // Every handler is inside at once: one task per stream, both models.
  REQUIRE(c.run_until([&] { return f.probe.gate_entered.load() == 100; }));
  f.probe.gate.cancel();
  for (const auto id : ids) {
    REQUIRE(c.wait(id));
    CHECK(c.reply(id).status == 200);
    CHECK(c.reply(id).body == "gate");
  }
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: request and response bodies larger than the windows arrive whole",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  duet::http::ServerConfig o;
  o.limits.buffered_body_bytes = 1 << 20;  // whole in Request::body, past every window
  Fixture f(duet::http::Engine::coroutine, a_driver(), o);
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  std::string big(300'000, 'x');
  for (std::size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
  const auto a = c.request("POST", "/echo", big);
  const auto b = c.request("POST", "/echo-plain", big);
  const auto g = c.get("/gen?n=50");
  const auto k = c.get("/gen-plain?n=40&known=1");
  for (const auto id : {a, b, g, k}) REQUIRE(c.wait(id));
  CHECK(c.reply(a).status == 200);
  CHECK(c.reply(a).body == big);
  CHECK(c.reply(b).body == big);
  CHECK(c.reply(g).body == gen_body(50));
  CHECK_FALSE(c.reply(g).header("content-length").has_value());
  CHECK(c.reply(k).body == gen_body(40));
  CHECK(c.reply(k).header("content-length") == "40000");
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: a body past the buffered size is streamed to the handler in both models",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  Fixture f(duet::http::Engine::coroutine, a_driver());
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  std::string big(500'000, 'x');
  for (std::size_t i = 0; i < big.size(); i += 11) big[i] = static_cast<char>('a' + i % 26);
  const std::string want = sum_answer(true, big.size(), fnv1a(big));
  // Without a Content-Length (streamed once past the buffered size), and
  // with one (streamed from the head).
  const auto a = c.request("POST", "/sum", big);
  const auto b = c.request("POST", "/sum-plain", big, {{"content-length", "500000"}});
  const auto p = c.request("POST", "/pieces", big);
  const auto w = c.request("POST", "/whole-plain", big);
  const auto small = c.request("POST", "/sum", "tiny");
  for (const auto id : {a, b, p, w, small}) REQUIRE(c.wait(id));
  CHECK(c.reply(a).body == want);
  CHECK(c.reply(b).body == want);
  CHECK(c.reply(p).body == want);
  CHECK(c.reply(w).body == std::to_string(big.size()) + " " + std::to_string(fnv1a(big)));
  CHECK(c.reply(small).body == sum_answer(false, 4, fnv1a("tiny")));
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: a streamed body comes no faster than the handler reads it", "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  Fixture f(duet::http::Engine::coroutine, a_driver());
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  const std::string big(1'000'000, 'h');
  const auto id = c.request("POST", "/hold", big);
  REQUIRE(c.run_until([&] { return f.probe.held.load() == 1; }));
  REQUIRE(c.ping());
  REQUIRE(c.ping());
  // What the server takes whole (the buffered size), one window more, and
  // the 1000 bytes the handler read: not the megabyte.
  CHECK(c.body_sent(id) <= 64 * 1024 + 65'535 + 1000 + 16'384);
  f.probe.release = true;
  REQUIRE(c.wait(id));
  CHECK(c.reply(id).body ==
        "1000 + " + sum_answer(true, big.size() - 1000, fnv1a(big.substr(1000))));
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: a streamed body past the limit or left unread ends its stream alone",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  duet::http::ServerConfig o;
  o.limits.max_body_bytes = 200'000;
  Fixture f(duet::http::Engine::coroutine, a_driver(), o);
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  const std::string big(500'000, 'l');
  const auto over = c.request("POST", "/sum", big);  // no Content-Length: found while read
  const auto said = c.request("POST", "/sum", big, {{"content-length", "500000"}});
  REQUIRE(c.wait(over));
  REQUIRE(c.wait(said));
  CHECK(c.reply(over).status == 400);  // the reader's error, answered by the handler
  CHECK(c.reply(over).body == "error: " + std::make_error_code(std::errc::message_size).message());
  CHECK(c.reply(said).status == 413);  // before any handler
  // A handler that answers without reading: the rest is not wanted, and
  // the connection's window comes back for the next body.
  for (int i = 0; i < 3; ++i) {
    const auto ignored = c.request("POST", "/ignore", std::string(150'000, 'i'));
    REQUIRE(c.wait(ignored));
    CHECK(c.reply(ignored).body == "ignored");
  }
  const std::string fits(150'000, 'f');
  const auto ok = c.request("POST", "/sum-plain", fits);
  REQUIRE(c.wait(ok));
  CHECK(c.reply(ok).body == sum_answer(true, fits.size(), fnv1a(fits)));
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: refusals and HEAD and failing handlers answer their stream alone",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  std::atomic<int> dropped{0};
  duet::http::ServerConfig o;
  o.limits.max_body_bytes = 10'000;
  Fixture f(duet::http::Engine::coroutine, a_driver(), h2_routes(dropped), o);
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  const auto nope = c.get("/nope");
  const auto wrong = c.request("POST", "/plaintext", "x");
  const auto big = c.request("POST", "/echo", std::string(50'000, 'b'));
  const auto head = c.request("HEAD", "/plaintext");
  const auto thrown = c.get("/throw");
  const auto thrown_plain = c.get("/throw-plain");
  const auto cancelled = c.get("/cancel-plain");
  const auto late = c.get("/late");
  for (const auto id : {nope, wrong, big, head, thrown, thrown_plain, cancelled, late}) {
    REQUIRE(c.wait(id));
  }
  CHECK(c.reply(nope).status == 404);
  CHECK(c.reply(wrong).status == 405);
  CHECK(c.reply(wrong).header("allow") == "GET, HEAD");
  CHECK(c.reply(big).status == 413);
  CHECK(c.reply(head).status == 200);
  CHECK(c.reply(head).header("content-length") == "13");
  CHECK(c.reply(head).body.empty());
  CHECK(c.reply(thrown).status == 500);
  CHECK(c.reply(thrown_plain).status == 500);
  CHECK(c.reply(cancelled).status == 503);
  CHECK(c.reply(late).status == 503);  // the route's deadline
  // The connection goes on.
  const auto after = c.get("/plaintext");
  REQUIRE(c.wait(after));
  CHECK(c.reply(after).status == 200);
  f.probe.gate.cancel();
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: RST_STREAM cancels the stream's handler in both models", "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  std::atomic<int> dropped{0};
  Fixture f(duet::http::Engine::coroutine, a_driver(), h2_routes(dropped));
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  int n = 0;
  for (const char* path : {"/park", "/park-plain"}) {
    ++n;
    const auto id = c.get(path);
    REQUIRE(c.run_until([&] { return f.probe.gate_entered.load() == n; }));
    nghttp2_submit_rst_stream(c.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    REQUIRE(c.run_until([&] { return dropped.load() == n; }));
    CHECK(c.reply(id).status == 0);  // never answered
  }
  const auto after = c.get("/plaintext");
  REQUIRE(c.wait(after));
  CHECK(c.reply(after).status == 200);
  CHECK(f.probe.gate_entered.load() == 2);
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: a streamed answer waits for the client's window", "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  Fixture f(duet::http::Engine::coroutine, a_driver());
  h2_test::ClientOptions o;
  o.window = 1000;
  o.auto_window = false;
  h2_test::Client c(f.port, o);
  REQUIRE(c.ok());
  const auto id = c.get("/gen?n=100");
  REQUIRE(c.run_until([&] { return c.reply(id).body.size() >= 1000; }));
  REQUIRE(c.ping());  // the server has read everything sent before
  // One piece in nghttp2, one posted, one being made: the window holds the rest back.
  CHECK(f.probe.pieces_made.load() <= 3);
  std::size_t seen = 0;
  while (!c.reply(id).closed) {
    const std::size_t now = c.reply(id).body.size();
    c.consume(id, now - seen);
    seen = now;
    REQUIRE(c.run_until([&] { return c.reply(id).body.size() > seen || c.reply(id).closed; }));
  }
  CHECK(c.reply(id).code == 0);
  CHECK(c.reply(id).body == gen_body(100));
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: a failing body source resets its stream", "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  Fixture f(duet::http::Engine::coroutine, a_driver());
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  const auto id = c.get("/gen?n=10&fail=3");
  REQUIRE(c.wait(id));
  CHECK(c.reply(id).code == NGHTTP2_INTERNAL_ERROR);
  CHECK(c.reply(id).body.size() <= 3000);
  const auto after = c.get("/plaintext");
  REQUIRE(c.wait(after));
  CHECK(c.reply(after).status == 200);
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: the drain sends GOAWAY and lets the streams in flight finish", "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  Fixture f(duet::http::Engine::coroutine, a_driver());
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  const auto slow = c.get("/slow");
  REQUIRE(c.run_until([&] { return f.probe.slow_entered.load() == 1; }));
  f.stop.cancel();  // the runtime's shutdown token: the server drains, /slow answers
  REQUIRE(c.wait(slow));
  CHECK(c.reply(slow).status == 200);
  CHECK(c.reply(slow).body == "slow");
  CHECK(c.wait_closed());
  CHECK(c.goaway);
  CHECK(c.goaway_code == NGHTTP2_NO_ERROR);
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: a draining connection waits for its streams without spinning on one worker",
          "[http_server][h2]") {
  // After the GOAWAY the connection waits for its streams' tasks on the
  // worker they share: a loop that never suspended (the drain's future,
  // ready for good, winning every wait) would starve the parked handler,
  // and the answer would never come.
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  std::atomic<int> dropped{0};
  Fixture f(duet::http::Engine::coroutine, a_driver(), h2_routes(dropped), {},
            duet::ClockMode::real, 1);
  h2_test::Client c(f.port);
  REQUIRE(c.ok());
  const auto parked = c.get("/park");
  REQUIRE(c.run_until([&] { return f.probe.gate_entered.load() == 1; }));
  f.stop.cancel();  // the drain: GOAWAY, the parked stream goes on
  REQUIRE(c.run_until([&] { return c.goaway; }));
  f.probe.gate.cancel();  // the handler's task needs the worker the connection runs on
  REQUIRE(c.wait(parked));
  CHECK(c.reply(parked).status == 200);
  CHECK(c.reply(parked).body == "parked");
  CHECK(c.wait_closed());
  CHECK(c.goaway_code == NGHTTP2_NO_ERROR);
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: TLS with ALPN h2 is HTTP/2 with HTTP/1.1 on the same listener",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  auto ctx = test_server_tls({"h2", "http/1.1"});
  if (!ctx) return;
  const auto& certs = duet::tlstest::certs();
  Fixture f(duet::http::Engine::fiber, a_driver());
  const std::uint16_t port = f.serve_tls(*ctx);
  {
    h2_test::ClientOptions o;
    o.tls = true;
    o.ca = certs.ca;
    o.alpn = {"h2", "http/1.1"};
    h2_test::Client c(port, o);
    REQUIRE(c.ok());
    CHECK(c.alpn() == "h2");
    const auto a = c.get("/plaintext-plain");
    const auto b = c.request("POST", "/echo", std::string(50'000, 'e'));
    REQUIRE(c.wait(a));
    REQUIRE(c.wait(b));
    CHECK(c.reply(a).body == "Hello, World!");
    CHECK(c.reply(b).body == std::string(50'000, 'e'));
  }
  const std::string got = f.rt->block_on(http_test::https_exchange(
      port, certs.ca, "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  CHECK(got.find("HTTP/1.1 200 OK") == 0);
  CHECK(f.finish() == 0);
}

TEST_CASE("h2: with HTTP/2 off the preface is answered as HTTP/1.1", "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  duet::http::ServerConfig o;
  o.http2.enabled = false;
  Fixture f(duet::http::Engine::coroutine, a_driver(), o);
  {
    Client h1(f.port);
    h1.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    Reply r = h1.response();
    CHECK(r.status == 505);  // its version
  }
  CHECK(f.finish() == 0);
}

// ---- attacks --------------------------------------------------------------

TEST_CASE("h2 attack: rapid reset ends the connection while others are served",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  std::atomic<int> dropped{0};
  Fixture f(duet::http::Engine::coroutine, a_driver(), h2_routes(dropped));
  h2_test::RawConn a(f.port);
  REQUIRE(a.ok());
  // HEADERS then RST_STREAM, 3000 times: each begins a handler and
  // cancels it (CVE-2023-44487).
  std::string burst;
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const std::uint32_t id = 2 * i + 1;
    burst += h2_test::frame(h2_test::kHeaders, h2_test::kEndStream | h2_test::kEndHeaders, id,
                            h2_test::hpack_get("/park"));
    burst += h2_test::frame(h2_test::kRstStream, 0, id, std::string("\0\0\0\x08", 4));
    if (burst.size() > 64 * 1024) {
      if (!a.send(burst)) break;
      burst.clear();
    }
  }
  (void)a.send(burst);
  CHECK(a.wait_closed());
  CHECK(a.goaway);
  // The reset budget (1000 at once) bounds the handlers begun.
  CHECK(f.probe.gate_entered.load() <= 1100);
  h2_test::Client c(f.port);
  const auto id = c.get("/plaintext");
  REQUIRE(c.wait(id));
  CHECK(c.reply(id).status == 200);
  // Every handler begun was cancelled: none is left parked.
  REQUIRE(c.run_until([&] { return dropped.load() == f.probe.gate_entered.load(); }));
  CHECK(f.finish() == 0);
}

TEST_CASE("h2 attack: streams past the limit are refused and the rest served",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  Fixture f(duet::http::Engine::coroutine, a_driver());
  h2_test::RawConn a(f.port);
  REQUIRE(a.ok());
  std::string burst;
  for (std::uint32_t i = 0; i < 150; ++i) {
    burst += h2_test::frame(h2_test::kHeaders, h2_test::kEndStream | h2_test::kEndHeaders,
                            2 * i + 1, h2_test::hpack_get("/gate"));
  }
  REQUIRE(a.send(burst));
  REQUIRE(a.read_until([&](const auto&) { return a.resets.size() == 50; }));
  for (const auto& [id, code] : a.resets) CHECK(code == NGHTTP2_REFUSED_STREAM);
  h2_test::Client watcher(f.port);
  REQUIRE(watcher.run_until([&] { return f.probe.gate_entered.load() == 100; }));
  f.probe.gate.cancel();
  REQUIRE(a.read_until([&](const auto&) { return a.statuses.size() == 100; }));
  for (const auto& [id, st] : a.statuses) CHECK(st == 200);
  CHECK(f.finish() == 0);
}

TEST_CASE("h2 attack: a CONTINUATION flood ends the connection", "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  Fixture f(duet::http::Engine::coroutine, a_driver());
  h2_test::RawConn a(f.port);
  REQUIRE(a.ok());
  std::string flood =
      h2_test::frame(h2_test::kHeaders, h2_test::kEndStream, 1, h2_test::hpack_get("/plaintext"));
  for (int i = 0; i < 1000; ++i) {
    flood += h2_test::frame(h2_test::kContinuation, 0, 1,
                            h2_test::hpack_literal("x-flood", std::string(100, 'f')));
  }
  (void)a.send(flood);
  CHECK(a.wait_closed());
  CHECK(a.goaway);
  CHECK(a.statuses.empty());
  h2_test::Client c(f.port);
  const auto id = c.get("/plaintext");
  REQUIRE(c.wait(id));
  CHECK(c.reply(id).status == 200);
  CHECK(f.finish() == 0);
}

TEST_CASE("h2 attack: an HPACK bomb is refused at the header limit", "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  Fixture f(duet::http::Engine::coroutine, a_driver());
  h2_test::RawConn a(f.port);
  REQUIRE(a.ok());
  // One 4000-byte field into the dynamic table, then 2000 one-byte
  // references to it: 8 MB of fields from a 6 KB block.
  std::string block = h2_test::hpack_get("/plaintext");
  block += h2_test::hpack_literal("x-bomb", std::string(4000, 'a'), true);
  block.append(2000, static_cast<char>(0x80 | 62));
  REQUIRE(a.send(
      h2_test::frame(h2_test::kHeaders, h2_test::kEndStream | h2_test::kEndHeaders, 1, block)));
  REQUIRE(
      a.read_until([&](const auto&) { return a.statuses.contains(1) || a.resets.contains(1); }));
  CHECK(a.statuses[1] == 431);
  // The connection goes on.
  REQUIRE(a.send(h2_test::frame(h2_test::kHeaders, h2_test::kEndStream | h2_test::kEndHeaders, 3,
                                h2_test::hpack_get("/plaintext"))));
  REQUIRE(a.read_until([&](const auto&) { return a.statuses.contains(3); }));
  CHECK(a.statuses[3] == 200);
  CHECK(f.finish() == 0);
}

TEST_CASE("h2 attack: a ping and SETTINGS flood that never reads is cut while others are served",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  duet::http::ServerConfig o;
  o.limits.io_timeout = std::chrono::milliseconds(500);
  Fixture f(duet::http::Engine::coroutine, a_driver(), o);
  h2_test::RawConn a(f.port);
  REQUIRE(a.ok());
  // Frames that each ask for an answer, until the kernel's buffers both
  // ways are full: the server stops reading while its answers wait.
  std::string chunk;
  for (int i = 0; i < 1000; ++i) {
    chunk += h2_test::frame(h2_test::kPing, 0, 0, "12345678");
    chunk += h2_test::frame(h2_test::kSettings, 0, 0, std::string("\0\x03\0\0\0\x64", 6));
  }
  std::size_t sent = 0;
  for (int i = 0; i < 100'000 && a.try_send(chunk); ++i) sent += chunk.size();
  INFO("sent " << sent << " bytes of the flood");
  // Others are served meanwhile.
  h2_test::Client c(f.port);
  const auto id = c.get("/plaintext");
  REQUIRE(c.wait(id));
  CHECK(c.reply(id).status == 200);
  // The flood's connection ends: its answers could not be written in time,
  // or nghttp2 refused the queue of acknowledgements.
  CHECK(a.wait_closed());
  CHECK(f.finish() == 0);
}

TEST_CASE("h2 attack: an answer kept in by a shut window is reset at io_timeout",
          "[http_server][h2]") {
  duet::iotest::Watchdog wd("h2", std::chrono::seconds(60));
  duet::http::ServerConfig o;
  o.limits.io_timeout = std::chrono::milliseconds(300);
  Fixture f(duet::http::Engine::coroutine, a_driver(), o);
  h2_test::ClientOptions co;
  co.window = 0;
  co.auto_window = false;
  h2_test::Client c(f.port, co);
  REQUIRE(c.ok());
  const auto id = c.get("/gen?n=100");
  REQUIRE(c.wait(id));
  CHECK(c.reply(id).code == NGHTTP2_CANCEL);
  CHECK(c.reply(id).body.empty());
  CHECK(f.probe.pieces_made.load() <= 2);
  // The connection goes on for answers without a body.
  const auto put = c.request("PUT", "/json");
  REQUIRE(c.wait(put));
  CHECK(c.reply(put).status == 204);
  CHECK(f.finish() == 0);
}

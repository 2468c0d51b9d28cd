// http_test.cpp: the HTTP server example (examples/http_server) end to
// end over loopback, on both drivers and in both models: the routes,
// the parser's edge cases (pipelining, chunked bodies, smuggling, HEAD,
// Expect, HTTP/1.0, bad request lines), each limit with the descriptors
// back to their baseline after it, and the program's drain on SIGTERM.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "http_client.hpp"
#include "tls_peer.hpp"

using http_server::Limits;
using http_server::Model;
using http_test::Client;
using http_test::InProcess;
using namespace std::chrono_literals;

namespace {

// Every case runs on both drivers and in both models; a driver this kernel
// refuses is skipped with its reason. `fds_before` is the count with the
// server up and no client; each case ends with the count back there.
#define HTTP_MATRIX()                                                                   \
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll); \
  const Model model = GENERATE(Model::stackless, Model::fiber);                         \
  INFO("driver " << duet::io::driver_name(drv) << ", "                                  \
                 << (model == Model::stackless ? "stackless" : "fiber"));               \
  if (!duet::iotest::driver_available(drv)) {                                           \
    WARN("SKIP: " << duet::io::driver_name(drv) << " not available on this kernel");    \
    return;                                                                             \
  }                                                                                     \
  duet::iotest::Watchdog wd("http", 120s)

constexpr std::string_view kGet = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

/// Runs `body(port)` against a fresh server and checks that the
/// descriptors come back to their count before the first client.
template <class F>
void with_server(duet::IoDriver drv, Model model, Limits limits, F body, std::string root = {}) {
  InProcess s(drv, model, limits, std::move(root));
  const int fds_before = duet::iotest::fd_count();
  body(s.server.port());
  CHECK(duet::iotest::settled_fd_count(fds_before) == fds_before);
}

template <class F>
void with_server(duet::IoDriver drv, Model model, F body) {
  with_server(drv, model, Limits{}, body);
}

}  // namespace

TEST_CASE("plaintext and json answer as TechEmpower defines them", "[http]") {
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    c.send(kGet);
    auto r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == "Hello, World!");
    CHECK(r.field("Content-Type") == "text/plain");
    CHECK(r.field("Content-Length") == "13");
    CHECK(r.field("Server") == "duet");
    CHECK(r.field("Date").ends_with(" GMT"));
    c.send("GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
    r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == R"({"message":"Hello, World!"})");
    CHECK(r.field("Content-Type") == "application/json");
  });
}

TEST_CASE("pipelined requests are answered in order on one connection", "[http]") {
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    std::string batch;
    for (int i = 0; i < 50; ++i) {
      batch += i % 2 == 0 ? std::string(kGet) : "GET /json HTTP/1.1\r\nHost: t\r\n\r\n";
    }
    c.send(batch);
    for (int i = 0; i < 50; ++i) {
      auto r = c.response();
      REQUIRE(r.status == 200);
      CHECK(r.body == (i % 2 == 0 ? "Hello, World!" : R"({"message":"Hello, World!"})"));
    }
  });
}

TEST_CASE("unknown paths get 404, a wrong method 405 with Allow", "[http]") {
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    c.send("GET /nope HTTP/1.1\r\nHost: t\r\n\r\nDELETE /json HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.response().status == 404);
    auto r = c.response();
    CHECK(r.status == 405);
    CHECK(r.field("Allow") == "GET, HEAD");
    c.send(kGet);  // the connection is still good
    CHECK(c.response().status == 200);
  });
}

TEST_CASE("chunked bodies with extensions and trailers keep the framing", "[http]") {
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    c.send(
        "POST /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-One: x\r\n\r\n");
    c.send(kGet);
    CHECK(c.response().status == 405);
    auto r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == "Hello, World!");
  });
}

TEST_CASE("a body with Content-Length is read past and the next request answered", "[http]") {
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nGET /");
    CHECK(c.response().body == "Hello, World!");
    c.send(kGet);
    CHECK(c.response().body == "Hello, World!");
  });
}

// An idle plain connection in the stackless model is its task's block
// (the header and Serve, spawned as the task's future) and the driver's
// block for its socket: what a request needs is given back between
// requests (connection.hpp). The task stays within one 512-byte block.
TEST_CASE("an idle stackless connection's task fits one 448-byte block", "[http][memory]") {
  using Task = duet::detail::PollTask<http_server::Serve<duet::net::TcpStream>>;
  STATIC_REQUIRE(sizeof(Task) <= 448);
}

TEST_CASE("a request in pieces across the idle read's bytes and the read buffer is answered",
          "[http]") {
  // Between requests the connection reads into a few bytes of its own
  // (connection.hpp, kFirstRead: 64) and takes a read buffer only for the
  // rest: a request cut before, at and after that boundary, one of exactly
  // that size, and an obs-fold line whose fold arrives in the next read.
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    const std::string req =
        "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Pad: " + std::string(200, 'p') + "\r\n\r\n";
    for (const std::size_t cut : {std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{65},
                                  std::size_t{150}, req.size() - 1}) {
      INFO("cut at " << cut);
      c.send(std::string_view(req).substr(0, cut));
      CHECK_FALSE(c.readable_within(20));  // no answer to half a request
      c.send(std::string_view(req).substr(cut));
      auto r = c.response();
      CHECK(r.status == 200);
      CHECK(r.body == "Hello, World!");
    }
    std::string exact = "GET /json HTTP/1.1\r\nHost: t\r\nX: ";
    exact += std::string(64 - exact.size() - 4, 'x') + "\r\n\r\n";
    REQUIRE(exact.size() == 64);
    c.send(exact);
    CHECK(c.response().body == R"({"message":"Hello, World!"})");
    c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\nX-A: a\r\n");
    CHECK_FALSE(c.readable_within(20));
    c.send(" folded\r\n\r\n");
    CHECK(c.response().status == 400);
  });
}

TEST_CASE("smuggling shapes get 400 and a close", "[http]") {
  HTTP_MATRIX();
  const char* bad[] = {
      // Content-Length and Transfer-Encoding together.
      "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      // Two Content-Lengths that differ (and, as nginx, two that agree).
      "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
      // obs-fold, a control character in a value, whitespace before a colon.
      "GET /json HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n",
      "GET /json HTTP/1.1\r\nHost: t\r\nX-A: o\x01ne\r\n\r\n",
      "GET /json HTTP/1.1\r\nHost : t\r\n\r\n",
      // HTTP/1.1 without Host, or with two.
      "GET /json HTTP/1.1\r\n\r\n",
      "GET /json HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      // Bad request lines.
      "GARBAGE\r\n\r\n",
      "GET /json y HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /json HTTP/1.x\r\nHost: t\r\n\r\n",
  };
  with_server(drv, model, [&](std::uint16_t port) {
    for (const char* req : bad) {
      INFO("request " << req);
      Client c(port);
      c.send(req);
      auto r = c.response();
      CHECK(r.status == 400);
      CHECK(r.field("Connection") == "close");
      CHECK(c.closed());
    }
  });
}

TEST_CASE("a transfer coding other than chunked gets 501", "[http]") {
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    c.send("POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
    CHECK(c.response().status == 501);
    CHECK(c.closed());
  });
}

TEST_CASE("HEAD answers the head without the body", "[http]") {
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    c.send("HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send(kGet);
    auto h = c.response(/*head_only=*/true);
    CHECK(h.status == 200);
    CHECK(h.field("Content-Length") == "13");
    auto r = c.response();  // starts right after the head: no body came between
    CHECK(r.status == 200);
    CHECK(r.body == "Hello, World!");
  });
}

TEST_CASE("Expect 100-continue is answered before the body is sent", "[http]") {
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    c.send(
        "GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    auto cont = c.response(/*head_only=*/true);
    CHECK(cont.status == 100);
    c.send("body");
    CHECK(c.response().body == "Hello, World!");
    Client other(port);
    other.send("GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: magic\r\n\r\n");
    CHECK(other.response().status == 417);
    CHECK(other.closed());
  });
}

TEST_CASE("HTTP/1.0 closes unless it asks for keep-alive", "[http]") {
  HTTP_MATRIX();
  with_server(drv, model, [](std::uint16_t port) {
    Client c(port);
    c.send("GET /plaintext HTTP/1.0\r\n\r\n");
    auto r = c.response();
    CHECK(r.status == 200);
    CHECK(r.head.starts_with("HTTP/1.1 200"));
    CHECK(c.closed());
    Client k(port);
    k.send("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    r = k.response();
    CHECK(r.field("Connection") == "keep-alive");
    k.send("GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(k.response().status == 200);
    Client cl(port);
    cl.send("GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + std::string(kGet));
    r = cl.response();
    CHECK(r.field("Connection") == "close");
    CHECK(cl.closed());  // the pipelined second request is not answered
  });
}

TEST_CASE("headers over the limit get 431", "[http]") {
  HTTP_MATRIX();
  Limits l;
  l.max_header_bytes = 1024;
  with_server(drv, model, l, [](std::uint16_t port) {
    Client c(port);
    c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
    CHECK(c.response().status == 431);
    CHECK(c.closed());
    Client u(port);
    u.send("GET /" + std::string(2000, 'u') + " HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(u.response().status == 431);
    CHECK(u.closed());
    Client ok(port);  // just under the limit is fine
    ok.send("GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(900, 'a') + "\r\n\r\n");
    CHECK(ok.response().status == 200);
  });
}

TEST_CASE("bodies over the limit get 413", "[http]") {
  HTTP_MATRIX();
  Limits l;
  l.max_body_bytes = 1000;
  with_server(drv, model, l, [](std::uint16_t port) {
    Client c(port);
    c.send("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    CHECK(c.response().status == 413);
    CHECK(c.closed());
    Client ch(port);
    ch.send("POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    std::string chunk = "100\r\n" + std::string(256, 'x') + "\r\n";
    for (int i = 0; i < 5; ++i) ch.send(chunk);
    CHECK(ch.response().status == 413);
    CHECK(ch.closed());
  });
}

TEST_CASE("a client idle or trickling past the read timeout is closed", "[http]") {
  HTTP_MATRIX();
  Limits l;
  l.read_timeout = 300ms;
  with_server(drv, model, l, [](std::uint16_t port) {
    Client idle(port);
    CHECK(idle.closed());  // no answer, just the close
    // A slowloris client: a byte of the header at a time, each well within
    // the timeout; the whole header's deadline still closes it. Bounded: it
    // must be closed long before 200 bytes at 50 ms apiece.
    Client slow(port);
    const std::string req =
        "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(300, 's');
    bool closed = false;
    for (std::size_t i = 0; i < 200 && !closed; ++i) {
      if (::send(slow.fd(), &req[i], 1, MSG_NOSIGNAL) != 1) break;
      closed = slow.readable_within(50) && slow.closed();
    }
    CHECK((closed || slow.closed()));
  });
}

TEST_CASE("the static route serves files and refuses traversal", "[http]") {
  HTTP_MATRIX();
  const auto dir =
      std::filesystem::temp_directory_path() / ("duet_http_root_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string big(300 * 1024, 'z');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  std::ofstream(dir / "big.bin", std::ios::binary) << big;
  std::ofstream(dir / "hi.txt") << "hi there\n";
  with_server(
      drv, model, Limits{},
      [&](std::uint16_t port) {
        Client c(port);
        c.send(
            "GET /static/hi.txt HTTP/1.1\r\nHost: t\r\n\r\n"
            "GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n" +
            std::string(kGet));
        auto r = c.response();
        CHECK(r.body == "hi there\n");
        CHECK(r.field("Content-Type") == "text/plain");
        r = c.response();
        CHECK(r.field("Content-Type") == "application/octet-stream");
        CHECK(r.body == big);
        CHECK(c.response().body == "Hello, World!");
        c.send("GET /static/missing HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK(c.response().status == 404);
        for (const char* bad : {"/static/../../etc/passwd", "/static/..%2f..%2fetc%2fpasswd",
                                "/static/a/../hi.txt"}) {
          INFO("path " << bad);
          Client t(port);
          t.send(std::string("GET ") + bad + " HTTP/1.1\r\nHost: t\r\n\r\n");
          CHECK(t.response().status == 400);
        }
      },
      dir.string());
  std::filesystem::remove_all(dir);
}

TEST_CASE("many connections at once, each served, none left open", "[http]") {
  HTTP_MATRIX();
  duet::iotest::raise_nofile();
  with_server(drv, model, [](std::uint16_t port) {
    std::vector<std::unique_ptr<Client>> cs;
    for (int i = 0; i < 100; ++i) cs.push_back(std::make_unique<Client>(port));
    for (auto& c : cs) c->send(kGet);
    for (auto& c : cs) CHECK(c->response().body == "Hello, World!");
  });
}

namespace {

/// Two requests over HTTPS, the second closing: everything the server sent.
duet::Task<std::string> https_exchange(std::uint16_t port, std::string ca) {
  duet::tls::ClientConfig cc;
  cc.ca_file = std::move(ca);
  auto ctx = duet::tls::TlsContext::client(cc);
  if (!ctx) co_return "client context: " + ctx.error().message();
  auto tcp = co_await duet::net::TcpStream::connect(duet::net::SocketAddr::v4_loopback(port));
  if (!tcp) co_return "connect: " + tcp.error().message();
  auto s = co_await ctx->connect(std::move(*tcp), "localhost", 10s);
  if (!s) co_return "handshake: " + s.error().message();
  const std::string req =
      "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  if (auto w = co_await s->write_all(req.data(), req.size()); !w) co_return "write failed";
  std::string got;
  char buf[4096];
  for (;;) {  // ends at the server's close (with or without close_notify)
    auto n = co_await s->read(buf, sizeof buf);
    if (!n || *n == 0) break;
    got.append(buf, *n);
  }
  co_return got;
}

}  // namespace

TEST_CASE("HTTPS serves the routes on the TLS listener", "[http]") {
  HTTP_MATRIX();
  if (!duet::tlstest::have_openssl()) {
    WARN("SKIP: the openssl tool is not installed (it makes the test certificates)");
    return;
  }
  const auto& certs = duet::tlstest::certs();
  REQUIRE(certs.ok);
  auto o = InProcess::options(model, Limits{}, {});
  o.tls_port = 0;
  o.cert_file = certs.server;
  o.key_file = certs.server_key;
  http_server::Server srv(o);
  auto rt = duet::iotest::make_rt(drv);
  srv.start(*rt);
  const int fds_before = duet::iotest::fd_count();
  const std::string got = rt->block_on(https_exchange(srv.tls_port(), certs.ca));
  INFO("received " << got);
  CHECK(got.find("HTTP/1.1 200 OK") == 0);
  CHECK(got.find("\r\n\r\nHello, World!HTTP/1.1 200 OK") != std::string::npos);
  CHECK(got.ends_with(R"({"message":"Hello, World!"})"));
  CHECK(duet::iotest::settled_fd_count(fds_before) == fds_before);
  rt.reset();  // the runtime's tasks borrow the server
}

#ifdef DUET_HTTP_SERVER_BIN
TEST_CASE("SIGTERM drains: in-flight requests finish, idle ones close, exit 0", "[http]") {
  const char* driver = GENERATE("io_uring", "epoll");
  const char* model = GENERATE("stackless", "fiber");
  INFO("driver " << driver << ", " << model);
  if (std::string_view(driver) == "io_uring" &&
      !duet::iotest::driver_available(duet::IoDriver::io_uring)) {
    WARN("SKIP: io_uring not available on this kernel");
    return;
  }
  duet::iotest::Watchdog wd("http drain", 120s);
  // The read timeout far past the case: only the drain closes the idle
  // connection.
  http_test::Program p({DUET_HTTP_SERVER_BIN, "--port", "0", "--model", model, "--drain-ms",
                        "20000", "--read-timeout-ms", "600000"},
                       driver);
  const std::uint16_t port = p.port();
  REQUIRE(port != 0);
  Client idle(port);
  idle.send(kGet);
  CHECK(idle.response().status == 200);  // now idle on a kept-alive connection
  // In flight: the server has read the head (its 100 Continue says so)
  // and waits for the body.
  Client busy(port);
  busy.send(
      "GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n");
  CHECK(busy.response(/*head_only=*/true).status == 100);
  busy.send("hal");
  // The drain has begun once the idle connection is closed. SIGTERM is
  // repeated until then (bounded): under TSan a delivered signal is
  // sometimes never passed to the handler (tests/signal/signal_test.cpp,
  // "a plain thread waits for a delivery"), and a second SIGTERM during a
  // drain changes nothing.
  bool drained = false;
  for (int i = 0; i < 600 && !drained; ++i) {
    REQUIRE(::kill(p.pid(), SIGTERM) == 0);
    drained = idle.readable_within(100);
  }
  REQUIRE(drained);
  CHECK(idle.closed());
  busy.send("f!!");  // the rest of the in-flight request's body
  auto r = busy.response();
  CHECK(r.status == 200);
  CHECK(r.body == "Hello, World!");
  CHECK(r.field("Connection") == "close");
  CHECK(busy.closed());
  // The server lingers on a connection it closed until the client's end:
  // give it that, so the drain finishes before its deadline.
  busy.close();
  idle.close();
  CHECK(p.wait() == 0);
}
#endif

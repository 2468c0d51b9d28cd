// http_test.cpp: the HTTP server example (examples/http_server, built on
// duet::http) end to end, as its program, over loopback: every engine on
// both drivers, its routes (plaintext, json, echo, the proxy and the
// fan-out through the pooled client to a second instance as upstream),
// HTTPS, handlers of the other model than the engine, the routed route
// and layer the lab's routing-cost pair measures (--route-params,
// --middleware), and the drain on SIGTERM. The protocol's edge cases are
// duet::http's own tests (tests/http_codec, tests/http_server).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <duet/tls.hpp>
#include <string>
#include <vector>

#include "http_peer.hpp"
#include "io_util.hpp"
#include "tls_peer.hpp"

using http_test::Client;
using http_test::Program;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kGet = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
constexpr std::string_view kJson = R"({"message":"Hello, World!"})";

// Every case runs each engine on both drivers; io_uring is skipped, with
// the reason, where the kernel refuses it.
#define EXAMPLE_MATRIX()                                                                   \
  const std::string engine = GENERATE("coroutine", "fiber", "poll");                       \
  const std::string driver = GENERATE("io_uring", "epoll");                                \
  INFO("engine " << engine << ", driver " << driver);                                      \
  if (driver == "io_uring" && !duet::iotest::driver_available(duet::IoDriver::io_uring)) { \
    WARN("SKIP: io_uring not available on this kernel");                                   \
    return;                                                                                \
  }                                                                                        \
  duet::iotest::Watchdog wd("http example", 120s)

/// The program with `engine` and the extra arguments, on `driver`.
Program start(const std::string& engine, const std::string& driver,
              std::vector<std::string> extra = {}) {
  std::vector<std::string> args{DUET_HTTP_SERVER_BIN, "--port", "0", "--engine", engine};
  args.insert(args.end(), extra.begin(), extra.end());
  return Program(args, driver);
}

std::string upstream_arg(std::uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

/// A listener that accepts into its backlog and never answers: an
/// upstream past every deadline.
struct SilentUpstream {
  SilentUpstream() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd.get(), 64) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  duet::io::Fd fd;
  std::uint16_t port = 0;
};

/// A port nothing listens on (bound, then closed).
std::uint16_t closed_port() {
  SilentUpstream s;
  const auto p = s.port;
  return p;
}

}  // namespace

TEST_CASE("plaintext and json answer as TechEmpower defines them", "[http]") {
  EXAMPLE_MATRIX();
  Program p = start(engine, driver);
  Client c(p.port());
  c.send(kGet);
  auto r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == "Hello, World!");
  CHECK(r.field("Content-Type") == "text/plain");
  CHECK(r.field("Server") == "duet");
  CHECK(!r.field("Date").empty());
  c.send("GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
  r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == kJson);
  CHECK(r.field("Content-Type") == "application/json");
}

TEST_CASE("pipelined requests are answered in order, a POST body echoed", "[http]") {
  EXAMPLE_MATRIX();
  Program p = start(engine, driver);
  Client c(p.port());
  c.send(
      "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
      "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.response().body == "Hello, World!");
  CHECK(c.response().body == "hello");
  CHECK(c.response().body == kJson);
  CHECK(c.response().status == 404);
}

TEST_CASE("handlers of the other model run under every engine", "[http]") {
  EXAMPLE_MATRIX();
  const std::string handlers = GENERATE("coroutine", "fiber");
  INFO("handlers " << handlers);
  Program p = start(engine, driver, {"--handlers", handlers});
  Client c(p.port());
  for (int i = 0; i < 3; ++i) {
    c.send(kGet);
    CHECK(c.response().body == "Hello, World!");
  }
}

TEST_CASE("the routed route and its layer: http_server with --route-params --middleware",
          "[http]") {
  EXAMPLE_MATRIX();
  const std::string handlers = GENERATE("coroutine", "fiber");
  INFO("handlers " << handlers);
  Program p = start(engine, driver, {"--handlers", handlers, "--route-params", "--middleware"});
  Client c(p.port());
  c.send("GET /users/7/posts/42 HTTP/1.1\r\nHost: t\r\nX-Request-Id: r1\r\n\r\n");
  auto r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == "Hello, World!");
  CHECK(r.field("X-Request-Id") == "r1");
  c.send("GET /users/x/posts/42 HTTP/1.1\r\nHost: t\r\n\r\n");  // id not a number
  r = c.response();
  CHECK(r.status == 404);
  CHECK(r.field("X-Request-Id") == "-");
  c.send(kGet);  // every route is wrapped
  CHECK(c.response().field("X-Request-Id") == "-");
  // Without the flags: no such route, no layer.
  Program bare = start(engine, driver, {"--handlers", handlers});
  Client b(bare.port());
  b.send("GET /users/7/posts/42 HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(b.response().status == 404);
  b.send(kGet);
  CHECK(b.response().field("X-Request-Id").empty());
}

TEST_CASE("the proxy forwards method, body and answer to the upstream", "[http]") {
  EXAMPLE_MATRIX();
  Program up = start("coroutine", driver);
  Program p = start(engine, driver, {"--upstream", upstream_arg(up.port())});
  Client c(p.port());
  c.send("GET /proxy/json HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == kJson);
  const std::string big(64 * 1024, 'x');
  c.send("POST /proxy/echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(big.size()) +
         "\r\n\r\n" + big);
  r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == big);
  c.send("GET /proxy/nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.response().status == 404);  // the upstream's answer, relayed
  // Many requests over the pool: answered in order on this connection.
  for (int i = 0; i < 20; ++i) {
    c.send("GET /proxy/plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.response().body == "Hello, World!");
  }
}

namespace {

/// FNV-1a of `s`.
std::uint64_t proxy_fnv(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

/// The peak resident set of process `pid` (VmHWM), in bytes; 0 if unknown.
std::size_t peak_rss(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  std::size_t kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::strtoull(line + 6, nullptr, 10);
  }
  std::fclose(f);
  return kb * 1024;
}

}  // namespace

TEST_CASE("the proxy streams an 8 MiB body to the upstream and its answer back", "[http]") {
  EXAMPLE_MATRIX();
  const std::string handlers = GENERATE("coroutine", "fiber");
  INFO("handlers " << handlers);
  const std::vector<std::string> limit{"--max-body-bytes", std::to_string(16 << 20)};
  Program up = start("coroutine", driver, limit);
  std::vector<std::string> args{"--upstream", upstream_arg(up.port()), "--handlers", handlers};
  args.insert(args.end(), limit.begin(), limit.end());
  Program p = start(engine, driver, args);
  Client c(p.port());
  c.send("GET /proxy/json HTTP/1.1\r\nHost: t\r\n\r\n");  // warm: the pool, the buffers
  CHECK(c.response().body == kJson);
  const std::size_t before = peak_rss(p.pid());
  std::string big(8 << 20, '\0');
  std::uint32_t x = 7;
  for (auto& ch : big) {
    x = x * 1664525u + 1013904223u;
    ch = static_cast<char>(x >> 24);
  }
  for (const bool chunked : {false, true}) {
    INFO("chunked " << chunked);
    if (chunked) {
      std::string wire =
          "POST /proxy/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
      for (std::size_t i = 0; i < big.size(); i += 65536)
        wire += "10000\r\n" + big.substr(i, 65536) + "\r\n";
      c.send(wire + "0\r\n\r\n");
    } else {
      c.send("POST /proxy/echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
             std::to_string(big.size()) + "\r\n\r\n" + big);
    }
    auto r = c.response();
    REQUIRE(r.status == 200);
    CHECK(r.body.size() == big.size());
    CHECK(proxy_fnv(r.body) == proxy_fnv(big));
    CHECK(r.body == big);
  }
  // The connection and the pool go on.
  c.send("GET /proxy/plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.response().body == "Hello, World!");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // The proxy never held a body whole: 16 MiB went through it each way,
  // its peak resident set grew by less than one body (sanitizers' shadow
  // memory makes the number meaningless there).
  const std::size_t after = peak_rss(p.pid());
  if (before != 0) CHECK(after - before < (8u << 20));
#else
  (void)before;
#endif
}

TEST_CASE("the proxy answers 502 for an upstream that refuses, 503 without one", "[http]") {
  EXAMPLE_MATRIX();
  {
    Program p = start(engine, driver, {"--upstream", upstream_arg(closed_port())});
    Client c(p.port());
    c.send("GET /proxy/json HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.response().status == 502);
  }
  Program p = start(engine, driver);
  Client c(p.port());
  c.send("GET /proxy/json HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.response().status == 503);
}

TEST_CASE("the fan-out merges n upstream answers in order", "[http]") {
  EXAMPLE_MATRIX();
  Program up = start("coroutine", driver);
  Program p = start(engine, driver, {"--upstream", upstream_arg(up.port())});
  Client c(p.port());
  c.send("GET /fanout?n=4 HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.response();
  CHECK(r.status == 200);
  std::string want = R"({"results":[)";
  for (int i = 0; i < 4; ++i) want += (i ? "," : "") + std::string(kJson);
  want += "]}";
  CHECK(r.body == want);
  c.send("GET /fanout HTTP/1.1\r\nHost: t\r\n\r\n");  // n defaults to 4
  CHECK(c.response().body == want);
  c.send("GET /fanout?n=64 HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.response().status == 200);
  for (const char* bad : {"0", "65", "x", ""}) {
    c.send(std::string("GET /fanout?n=") + bad + " HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.response().status == 400);
  }
}

TEST_CASE("the fan-out answers 504 when its deadline passes", "[http]") {
  EXAMPLE_MATRIX();
  SilentUpstream silent;
  Program p = start(engine, driver,
                    {"--upstream", upstream_arg(silent.port), "--fanout-deadline-ms", "200"});
  Client c(p.port());
  c.send("GET /fanout?n=4 HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.response().status == 504);
  // The connection and the server go on.
  c.send(kGet);
  CHECK(c.response().body == "Hello, World!");
}

TEST_CASE("HTTPS serves the routes on the TLS listener", "[http]") {
  EXAMPLE_MATRIX();
  if (!duet::tlstest::have_openssl()) {
    WARN("SKIP: the openssl tool is not installed (it makes the test certificates)");
    return;
  }
  const auto& certs = duet::tlstest::certs();
  REQUIRE(certs.ok);
  Program p =
      start(engine, driver, {"--tls-port", "0", "--cert", certs.server, "--key", certs.server_key});
  const std::uint16_t tls_port = p.tls_port();
  REQUIRE(tls_port != 0);
  auto rt =
      duet::iotest::make_rt(driver == "epoll" ? duet::IoDriver::epoll : duet::IoDriver::io_uring);
  const std::string got = rt->block_on(
      http_test::https_exchange(tls_port, certs.ca,
                                "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
                                "GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  INFO("received " << got);
  CHECK(got.find("HTTP/1.1 200 OK") == 0);
  CHECK(got.find("\r\n\r\nHello, World!HTTP/1.1 200 OK") != std::string::npos);
  CHECK(got.ends_with(kJson));
}

TEST_CASE("SIGTERM drains: in-flight requests finish, idle ones close, exit 0", "[http]") {
  EXAMPLE_MATRIX();
  // The read timeout far past the case: only the drain closes the idle
  // connection.
  Program p = start(engine, driver, {"--drain-ms", "20000", "--io-timeout-ms", "600000"});
  const std::uint16_t port = p.port();
  REQUIRE(port != 0);
  Client idle(port);
  idle.send(kGet);
  CHECK(idle.response().status == 200);  // now idle on a kept-alive connection
  // In flight: the server has read the head (its 100 Continue says so)
  // and waits for the body.
  Client busy(port);
  busy.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n");
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
  CHECK(r.body == "half!!");
  CHECK(r.field("Connection") == "close");
  CHECK(busy.closed());
  // The server lingers on a connection it closed until the client's end:
  // give it that, so the drain finishes before its deadline.
  busy.close();
  idle.close();
  CHECK(p.wait() == 0);
}

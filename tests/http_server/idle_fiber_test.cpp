// idle_fiber_test.cpp: the fiber engine's connection idle past the
// runtime's fiber_stack_trim_after: its fiber ends and its stack goes back
// to the pool while a small task waits for the next bytes
// (fiber_engine.cpp, wait_idle); the next request starts a fresh fiber that
// goes on from the machine's next step. Each case waits for the observable
// state (no stack held: MemoryStats::stacks.in_use), never for a time.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "server_fixture.hpp"
#include "tls_peer.hpp"

namespace idle_fiber_test {

using namespace std::chrono_literals;
using http_server_test::Client;

/// The fiber engine over the test routes, on a runtime whose idle
/// connections keep their fibers for `kept_idle`. The runtime drains
/// before the server goes (its tasks borrow the server's state).
struct FiberServer {
  FiberServer(duet::IoDriver drv, std::chrono::nanoseconds kept_idle,
              duet::http::ServerConfig o = {})
      : rt(http_server_test::one_worker_rt(drv, kept_idle)) {
    o.engine = duet::http::Engine::fiber;
    server = std::make_unique<duet::http::Server>(http_server_test::test_routes(probe, nullptr),
                                                  std::move(o));
    auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
    if (!l) throw std::runtime_error("bind: " + l.error().message());
    port = l->local_addr()->port();
    server->serve(*rt, std::move(*l));
  }
  FiberServer(const FiberServer&) = delete;
  FiberServer& operator=(const FiberServer&) = delete;
  ~FiberServer() { finish(); }

  /// Stacks held by fibers now.
  std::size_t stacks_in_use() const { return rt->memory_stats().stacks.in_use; }
  /// Waits until no fiber holds a stack (every connection idle past the
  /// threshold has handed its wait off).
  void until_no_stack() const {
    while (stacks_in_use() != 0) std::this_thread::yield();
  }
  /// Drains and destroys the runtime (once): the DrainReport's cancelled count.
  std::size_t finish() {
    if (rt) {
      cancelled = rt->drain(5s).cancelled.size();
      rt.reset();
    }
    return cancelled;
  }

  http_server_test::Probe probe;
  std::unique_ptr<duet::Runtime> rt;
  std::unique_ptr<duet::http::Server> server;
  std::uint16_t port = 0;
  std::size_t cancelled = 0;
};

constexpr std::string_view kGet = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
constexpr std::string_view kGetPlain = "GET /plaintext-plain HTTP/1.1\r\nHost: t\r\n\r\n";

}  // namespace idle_fiber_test

using http_server_test::Client;
using idle_fiber_test::FiberServer;
using idle_fiber_test::kGet;
using idle_fiber_test::kGetPlain;

#define IDLE_FIBER_DRIVERS(name)                                                        \
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll); \
  INFO("driver " << duet::to_string(drv).data());                                       \
  if (!duet::iotest::driver_available(drv)) {                                           \
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");   \
    return;                                                                             \
  }                                                                                     \
  duet::iotest::Watchdog wd(name, std::chrono::seconds(60))

TEST_CASE(
    "fiber engine: a connection idle past the threshold gives its fiber back and is served "
    "again",
    "[http_server]") {
  IDLE_FIBER_DRIVERS("idle fiber");
  FiberServer f(drv, std::chrono::milliseconds(20));
  Client c(f.port);
  // Three rounds: each request answered (by a coroutine handler, then by a
  // plain one on the connection's fiber, then both pipelined), then the
  // connection left idle until its fiber has ended.
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    if (round == 0) c.send(kGet);
    if (round == 1) c.send(kGetPlain);
    if (round == 2) c.send(std::string(kGet) + std::string(kGetPlain));
    const auto r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == "Hello, World!");
    if (round == 2) CHECK(c.response().body == "Hello, World!");
    f.until_no_stack();
    CHECK(f.server->stats().open == 1);  // the connection itself stays open
  }
  // A request split across the hand-off: its first bytes arrive while the
  // small task waits and start a fiber, which reads the rest (mid-head the
  // connection is not idle: its fiber stays).
  c.send("GET /plaintext HTTP/1.1\r\n");
  while (f.stacks_in_use() == 0) std::this_thread::yield();
  c.send("Host: t\r\n\r\n");
  CHECK(c.response().status == 200);
  CHECK(f.finish() == 0);
}

TEST_CASE(
    "fiber engine: a connection that handed its idle wait off closes at the drain and at its "
    "deadline",
    "[http_server]") {
  IDLE_FIBER_DRIVERS("idle fiber close");
  duet::http::ServerConfig o;
  o.limits.io_timeout = std::chrono::milliseconds(300);
  FiberServer f(drv, std::chrono::milliseconds(20), std::move(o));
  {
    // The machine's deadline, kept by the task that waits: the connection
    // closes once the idle gap reaches io_timeout, with nothing more sent.
    Client c(f.port);
    c.send(kGet);
    CHECK(c.response().status == 200);
    f.until_no_stack();
    CHECK(c.until_close().empty());
  }
  while (f.server->stats().open != 0) std::this_thread::yield();
  // The drain: an idle connection closes at once, fiber or not.
  Client c(f.port);
  c.send(kGet);
  CHECK(c.response().status == 200);
  f.until_no_stack();
  CHECK(f.finish() == 0);
  CHECK(c.until_close().empty());
}

TEST_CASE("fiber engine: fiber_stack_trim_after 0 keeps an idle connection's fiber",
          "[http_server]") {
  IDLE_FIBER_DRIVERS("idle fiber kept");
  FiberServer f(drv, std::chrono::nanoseconds(0));
  Client c(f.port);
  c.send(kGet);
  CHECK(c.response().status == 200);
  // Observable without a wait: the fiber is the connection, so its stack
  // is held for as long as the connection is open.
  CHECK(f.stacks_in_use() == 1);
  c.send(kGetPlain);
  CHECK(c.response().status == 200);
  CHECK(f.stacks_in_use() == 1);
  CHECK(f.finish() == 0);
}

TEST_CASE("fiber engine: an idle TLS connection hands its wait off and is served again",
          "[http_server]") {
  IDLE_FIBER_DRIVERS("idle fiber tls");
  auto ctx = test_server_tls();
  if (!ctx) return;
  const auto& certs = duet::tlstest::certs();
  FiberServer f(drv, std::chrono::milliseconds(20));
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
  REQUIRE(l);
  const std::uint16_t port = l->local_addr()->port();
  f.server->serve_tls(*f.rt, std::move(*l), *ctx);
  // The client's task: one request, then (the server's fiber gone) another
  // on the same connection.
  FiberServer* fs = &f;
  const auto exchange = [](std::uint16_t p, std::string ca, FiberServer* srv) -> duet::Task<int> {
    duet::tls::ClientConfig cc;
    cc.ca_file = std::move(ca);
    auto cctx = duet::tls::TlsContext::client(cc);
    if (!cctx) co_return -1;
    auto tcp = co_await duet::net::TcpStream::connect(duet::net::SocketAddr::v4_loopback(p));
    if (!tcp) co_return -2;
    auto s = co_await cctx->connect(std::move(*tcp), "localhost", std::chrono::seconds(10));
    if (!s) co_return -3;
    int ok = 0;
    for (int i = 0; i < 2; ++i) {
      const std::string req = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
      auto w = co_await s->write_all(req.data(), req.size());
      if (!w) co_return -4;
      std::string got;
      char buf[512];
      while (got.find("Hello, World!") == std::string::npos) {
        auto n = co_await s->read(buf, sizeof buf);
        if (!n || *n == 0) co_return -5;
        got.append(buf, *n);
      }
      if (got.starts_with("HTTP/1.1 200 OK")) ++ok;
      // This task is a coroutine: the only stack is the server's.
      while (srv->stacks_in_use() != 0) co_await duet::yield_now();
    }
    co_return ok;
  };
  CHECK(f.rt->block_on(exchange(port, certs.ca, fs)) == 2);
  CHECK(f.finish() == 0);
}

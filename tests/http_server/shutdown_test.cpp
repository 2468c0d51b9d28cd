// shutdown_test.cpp: Server::shutdown stops one server, its runtime and
// another server on it serving on: its listener closed, its idle
// connections closed at once, its requests in flight answered with
// "Connection: close" (coroutine and plain handlers), and the wait ended
// when the last connection closes, awaited from a coroutine, called on a
// fiber and on a plain thread; at its deadline (the manual test clock) it
// reports the connections still open and leaves them be. Every engine on
// both drivers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <memory>
#include <string>
#include <thread>

#include "server_fixture.hpp"

namespace shutdown_test {

using duet::http::Request;
using duet::http::Response;
using duet::http::Server;
using duet::http::ShutdownReport;
using namespace std::chrono_literals;

/// /hi; /gate and /gate-plain count themselves in and wait for `gate`.
struct Gate {
  duet::CancellationToken gate;
  std::atomic<int> entered{0};
};

duet::http::Router routes(Gate& g) {
  duet::http::Router r;
  r.get("/hi", [](Request&) -> duet::Task<Response> { co_return Response::text(200, "hi"); });
  r.get("/gate", [&g](Request&) -> duet::Task<Response> {
    g.entered.fetch_add(1);
    co_await g.gate.cancelled();
    co_return Response::text(200, "gate");
  });
  r.get("/gate-plain", [&g](Request&) {
    g.entered.fetch_add(1);
    duet::wait(g.gate.cancelled());
    return Response::text(200, "gate");
  });
  return r;
}

/// A server of `routes` on a free loopback port, served by `rt`.
std::unique_ptr<Server> start(duet::Runtime& rt, Gate& g, duet::http::ServerConfig o,
                              std::uint16_t& port) {
  auto s = std::make_unique<Server>(routes(g), std::move(o));
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
  REQUIRE(l);
  port = l->local_addr()->port();
  s->serve(rt, std::move(*l));
  return s;
}

std::string get(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

/// Whether a connect to the port is refused: nothing listens there.
bool refused(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } while (rc != 0 && errno == EINTR);
  const bool was_refused = rc != 0 && errno == ECONNREFUSED;
  ::close(fd);
  return was_refused;
}

/// Waits until a connect to the port is refused (observable state, tried
/// every millisecond): on io_uring an accept cut by the shutdown may hold
/// the closed listener's socket in the kernel until its cancellation
/// completes, and a connect meanwhile still lands in its backlog.
bool refused_soon(std::uint16_t port) {
  while (!refused(port)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return true;
}

/// The coroutine face: awaits the server's shutdown.
duet::Task<ShutdownReport> shut(Server& s, std::chrono::nanoseconds grace) {
  co_return co_await s.shutdown(grace);
}

/// Reads a gated request's answer: 200 "gate" with "Connection: close".
void expect_closing_gate(http_server_test::Client& c) {
  const auto r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == "gate");
  CHECK(r.field("Connection") == "close");
  CHECK(c.closed());
}

}  // namespace shutdown_test

using shutdown_test::Gate;
using namespace std::chrono_literals;

TEST_CASE("server: shutdown stops one server and its runtime and another server serve on",
          "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server shutdown");
  auto rt = duet::iotest::make_rt(drv, 2);
  Gate g;
  duet::http::ServerConfig o;
  o.engine = engine;
  std::uint16_t pa = 0;
  std::uint16_t pb = 0;
  auto a = shutdown_test::start(*rt, g, o, pa);
  auto b = shutdown_test::start(*rt, g, o, pb);
  {
    http_server_test::Client idle(pa);
    idle.send(shutdown_test::get("/hi"));
    CHECK(idle.response().body == "hi");  // then idle, kept alive
    http_server_test::Client busy(pa);
    http_server_test::Client busy_plain(pa);
    busy.send(shutdown_test::get("/gate"));
    busy_plain.send(shutdown_test::get("/gate-plain"));
    while (g.entered.load() < 2) std::this_thread::sleep_for(1ms);  // observable state
    http_server_test::Client other(pb);

    auto h = rt->spawn(shutdown_test::shut(*a, 60s));
    CHECK(idle.closed());                   // at once
    CHECK_FALSE(h.is_finished());           // two requests in flight hold it
    other.send(shutdown_test::get("/hi"));  // the other server serves on
    CHECK(other.response().body == "hi");
    g.gate.cancel();
    shutdown_test::expect_closing_gate(busy);
    shutdown_test::expect_closing_gate(busy_plain);
    busy.close();  // the server lingers until the client's close
    busy_plain.close();
    const duet::http::ShutdownReport r = h.join();
    CHECK(r.finished_in_time);
    CHECK(r.open == 0);
    CHECK(a->stats().open == 0);
    CHECK(shutdown_test::refused_soon(pa));
    CHECK_FALSE(shutdown_test::refused(pb));
    // The fiber face, with the other server's idle connection open.
    auto f = rt->spawn(duet::stackful, [&b] { return b->shutdown_now(60s); });
    CHECK(other.closed());
    const duet::http::ShutdownReport rb = f.join();
    CHECK(rb.finished_in_time);
    CHECK(shutdown_test::refused_soon(pb));
  }
  // The runtime runs on; a second shutdown ends at once, as on a plain thread.
  CHECK(rt->spawn(duet::stackful, [] { return 7; }).join() == 7);
  CHECK(a->shutdown_now(1s).finished_in_time);
  CHECK(rt->drain(5s).finished_in_time);
  rt.reset();  // before the servers, whose state its tasks borrow
}

TEST_CASE("server: shutdown at its deadline reports the connections still open", "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server shutdown deadline");
  auto rt = duet::iotest::make_rt(drv, 2, duet::ClockMode::manual);
  Gate g;
  duet::http::ServerConfig o;
  o.engine = engine;
  o.limits.io_timeout = std::chrono::hours(1);  // only the shutdown's deadline passes
  std::uint16_t port = 0;
  auto s = shutdown_test::start(*rt, g, o, port);
  {
    http_server_test::Client busy(port);
    http_server_test::Client busy_plain(port);
    busy.send(shutdown_test::get("/gate"));
    busy_plain.send(shutdown_test::get("/gate-plain"));
    while (g.entered.load() < 2) std::this_thread::sleep_for(1ms);  // observable state
    auto h = rt->spawn(s->shutdown(30s));
    CHECK_FALSE(h.is_finished());
    rt->advance(30s);
    const duet::http::ShutdownReport r = h.join();
    CHECK_FALSE(r.finished_in_time);
    CHECK(r.open == 2);
    // Left be: released, they are answered and close.
    g.gate.cancel();
    shutdown_test::expect_closing_gate(busy);
    shutdown_test::expect_closing_gate(busy_plain);
    busy.close();
    busy_plain.close();
    // The plain thread's face: waits for the last to close.
    const duet::http::ShutdownReport again = s->shutdown_now(std::chrono::hours(1));
    CHECK(again.finished_in_time);
    CHECK(again.open == 0);
  }
  CHECK(rt->drain(5s).finished_in_time);
  rt.reset();
}

TEST_CASE("server: a server shut down before it serves closes its listener at once",
          "[http_server]") {
  HTTP_ENGINE_MATRIX("http_server shutdown first");
  auto rt = duet::iotest::make_rt(drv, 2);
  Gate g;
  duet::http::ServerConfig o;
  o.engine = engine;
  auto s = std::make_unique<duet::http::Server>(shutdown_test::routes(g), o);
  CHECK(s->shutdown_now(1s).finished_in_time);  // nothing served yet
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
  REQUIRE(l);
  const std::uint16_t port = l->local_addr()->port();
  s->serve(*rt, std::move(*l));
  CHECK(s->shutdown_now(5s).finished_in_time);  // its accept loop has ended
  CHECK(shutdown_test::refused_soon(port));
  CHECK(rt->drain(5s).finished_in_time);
  rt.reset();
}

// poll_engine_test.cpp: what is particular to the poll engine of
// duet::http (drivers/http/src/poll_engine.cpp) over loopback, on both
// drivers: an idle connection's task size, a coroutine handler polled in
// place inside the connection's task and a plain one on a fiber of its
// own, answers to earlier pipelined requests written while a handler
// waits, a pipelined batch answered in one write, and the drain from the
// runtime's shutdown token. The behaviour every engine shares is the
// server suite's.
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <duet/duet.hpp>
#include <duet/dump.hpp>
#include <duet/http.hpp>
#include <duet/io.hpp>
#include <duet/io/stats.hpp>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "../../drivers/http/src/poll_engine.hpp"  // private: the connection type
#include "http_peer.hpp"

namespace poll_engine_test {

using namespace std::chrono_literals;
using duet::http::Request;
using duet::http::Response;

constexpr std::string_view kGetNow = "GET /now HTTP/1.1\r\nHost: t\r\n\r\n";

/// Spins (yielding) until `pred` holds; fails the test after 10 s.
template <class P>
void wait_until(P pred) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) FAIL("waited 10 s for a state");
    std::this_thread::yield();
  }
}

/// Gates that handlers wait on, and what they say they reached.
struct Gates {
  duet::CancellationToken open;      // the handlers waiting on it go on
  std::atomic<int> waiting{0};       // handlers that reached the gate
  duet::CancellationToken shutdown;  // the runtime's (set by PollServer)
};

/// The routes of these tests: /now answers at once; /coro-wait and
/// /fiber-wait wait for the gate (a coroutine and a plain handler);
/// /coro-throw and /fiber-throw throw; /until-drain waits for the drain;
/// POST /echo answers the body.
duet::http::Router routes(Gates& g) {
  duet::http::Router r;
  r.get("/now", [](Request&) -> duet::Task<Response> { co_return Response::text(200, "now"); });
  r.get("/coro-wait", [&g](Request&) -> duet::Task<Response> {
    g.waiting.fetch_add(1);
    co_await g.open.cancelled();
    co_return Response::text(200, "coroutine");
  });
  r.get("/fiber-wait", [&g](Request&) {
    g.waiting.fetch_add(1);
    duet::wait(g.open.cancelled());
    return Response::text(200, "fiber");
  });
  r.post("/echo", [](Request& req) -> duet::Task<Response> {
    co_return Response::text(200, std::move(req.body));
  });
  r.get("/coro-throw", [](Request&) -> duet::Task<Response> {
    throw std::runtime_error("handler failed");
    co_return Response::text(200, "unreached");
  });
  r.get("/fiber-throw", [](Request&) -> Response { throw std::runtime_error("handler failed"); });
  r.get("/until-drain", [&g](Request&) -> duet::Task<Response> {
    g.waiting.fetch_add(1);
    co_await g.shutdown.cancelled();
    co_return Response::text(200, "drained");
  });
  return r;
}

/// Accepts until the runtime's shutdown token is cancelled and hands every
/// connection to the poll engine's entry point, counted in State::open as
/// the server's accept loop counts it (a poll future: the engine under
/// test, with nothing of the server's own loop around it).
struct AcceptAll {
  duet::net::TcpListener* listener;
  duet::http::detail::State* st;
  std::optional<duet::net::AcceptFuture> accept;
  std::optional<duet::CancelledFuture> stop;

  duet::Poll<void> poll(duet::Context& cx) {
    for (;;) {
      if (!stop) stop.emplace(st->shutdown.cancelled());
      if (stop->poll(cx).is_ready()) {
        accept.reset();
        (void)listener->close();
        return duet::ready();
      }
      if (!accept) accept.emplace(listener->accept());
      auto p = accept->poll(cx);
      if (p.is_pending()) return duet::pending;
      accept.reset();
      auto c = std::move(p).value();
      if (!c) return duet::ready();
      st->open.fetch_add(1);
      duet::http::detail::spawn_poll(duet::http::detail::OpenSlot(st), std::move(*c), nullptr);
    }
  }
};

/// The poll engine serving the test routes on 127.0.0.1 (a free port) on
/// driver `d`, every task listed by the dump. The state and the listener
/// outlive the runtime, whose tasks borrow them.
struct PollServer {
  PollServer(duet::IoDriver d, Gates& g, duet::http::ServerConfig o = {})
      : st(routes(g), with_poll(std::move(o))),
        listener(bind()),
        port(listener.local_addr()->port()),
        rt(make_rt(d)) {
    st.shutdown = rt->shutdown_token();
    g.shutdown = st.shutdown;
    rt->spawn(AcceptAll{&listener, &st, {}, {}}).detach();
  }
  static duet::http::ServerConfig with_poll(duet::http::ServerConfig o) {
    o.engine = duet::http::Engine::poll;
    return o;
  }
  static duet::net::TcpListener bind() {
    auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
    if (!l) throw std::runtime_error("bind: " + l.error().message());
    return std::move(*l);
  }
  static std::unique_ptr<duet::Runtime> make_rt(duet::IoDriver d) {
    ::unsetenv("DUET_DRIVER");  // the config chooses the driver
    duet::RuntimeConfig cfg;
    cfg.workers = 2;
    cfg.placement = duet::Placement::none;
    cfg.io_driver = d;
    cfg.list_all_tasks = true;
    return std::make_unique<duet::Runtime>(cfg);
  }
  /// The runtime's live tasks now.
  std::size_t live_tasks() {
    std::ostringstream os;
    return duet::dump_tasks(*rt, os);
  }
  std::string dump() {
    std::ostringstream os;
    duet::dump_tasks(*rt, os);
    return os.str();
  }
  [[nodiscard]] std::uint64_t open() const { return st.open.load(); }

  duet::http::detail::State st;
  duet::net::TcpListener listener;
  std::uint16_t port = 0;
  std::unique_ptr<duet::Runtime> rt;
};

#define POLL_ENGINE_DRIVERS()                                                           \
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll); \
  INFO("driver " << duet::to_string(drv).data());                                       \
  if (drv == duet::IoDriver::io_uring && !duet::io::uring_features().available) {       \
    WARN("SKIP: io_uring not available on this kernel");                                \
    return;                                                                             \
  }

}  // namespace poll_engine_test

using namespace poll_engine_test;

// An idle plain connection under the poll engine is its task's block (the
// header, then the connection spawned as the task's future: its stream,
// the read or write in flight, the idle timer, the drain's registration
// and 64 bytes to read the next request into) and the driver's block for
// its socket. What a request needs (decoder, buffers, the request and its
// handler) is a block taken at its first byte and given back when the
// connection is idle again, so it is not counted here.
TEST_CASE("an idle poll-engine connection's task fits one 448-byte block", "[http_server]") {
  using Conn = duet::http::detail::poll_engine::PollConnection<duet::net::TcpStream>;
  STATIC_REQUIRE(sizeof(duet::detail::PollTask<Conn>) <= 448);
}

TEST_CASE("poll engine: a coroutine handler that suspends is polled in the connection's task",
          "[http_server]") {
  POLL_ENGINE_DRIVERS();
  Gates g;
  PollServer s(drv, g);
  http_test::Client c(s.port);
  c.send(kGetNow);
  CHECK(c.response().body == "now");
  const std::size_t idle = s.live_tasks();  // the accept loop and this connection
  c.send("GET /coro-wait HTTP/1.1\r\nHost: t\r\n\r\n");
  wait_until([&] { return g.waiting.load() == 1; });
  // The handler waits inside the connection's task: no task was spawned.
  CHECK(s.live_tasks() == idle);
  CHECK(s.dump().find("stackful") == std::string::npos);
  CHECK_FALSE(c.readable_within(20));
  g.open.cancel();
  auto r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == "coroutine");
  c.send(kGetNow);  // the connection goes on
  CHECK(c.response().body == "now");
}

TEST_CASE("poll engine: a plain handler runs on a fiber spawned for its request", "[http_server]") {
  POLL_ENGINE_DRIVERS();
  Gates g;
  PollServer s(drv, g);
  http_test::Client c(s.port);
  c.send(kGetNow);
  CHECK(c.response().body == "now");
  const std::size_t idle = s.live_tasks();
  c.send("GET /fiber-wait HTTP/1.1\r\nHost: t\r\n\r\n");
  wait_until([&] { return g.waiting.load() == 1; });
  CHECK(s.live_tasks() == idle + 1);  // the request's fiber
  CHECK(s.dump().find(" fiber ") != std::string::npos);
  g.open.cancel();
  auto r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == "fiber");
  c.send(kGetNow);
  CHECK(c.response().body == "now");
  wait_until([&] { return s.live_tasks() == idle; });  // the fiber is gone
}

TEST_CASE("poll engine: a handler that throws is answered 500 and the connection goes on",
          "[http_server]") {
  POLL_ENGINE_DRIVERS();
  Gates g;
  PollServer s(drv, g);
  http_test::Client c(s.port);
  for (const char* path : {"/coro-throw", "/fiber-throw"}) {
    INFO(path);
    c.send(std::string("GET ") + path + " HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.response().status == 500);
    c.send(kGetNow);
    CHECK(c.response().body == "now");
  }
}

TEST_CASE("poll engine: answers to earlier pipelined requests go out while a handler waits",
          "[http_server]") {
  POLL_ENGINE_DRIVERS();
  const char* path = GENERATE("/coro-wait", "/fiber-wait");
  INFO(path);
  Gates g;
  PollServer s(drv, g);
  http_test::Client c(s.port);
  const std::string waiting = std::string("GET ") + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
  c.send(std::string(kGetNow) + waiting + std::string(kGetNow));
  // The first answer arrives while the second request's handler waits.
  auto first = c.response();
  CHECK(first.body == "now");
  wait_until([&] { return g.waiting.load() == 1; });
  CHECK_FALSE(c.readable_within(20));
  g.open.cancel();
  CHECK(c.response().status == 200);
  CHECK(c.response().body == "now");
}

TEST_CASE("poll engine: a pipelined batch is answered in one write", "[http_server]") {
  POLL_ENGINE_DRIVERS();
  Gates g;
  PollServer s(drv, g);
  http_test::Client c(s.port);
  // The connection reads the first 64 bytes alone (the idle read, which
  // holds the first request), answers it, then reads the other 19
  // requests at once and writes their 19 answers with one send: the
  // client receives everything in at most two reads. (Writing an answer
  // per request would arrive in up to 20.)
  std::string batch;
  for (int i = 0; i < 20; ++i) batch += kGetNow;
  c.send(batch);
  std::string got;
  int reads = 0;
  const auto answers = [&] {
    std::size_t n = 0;
    for (auto at = got.find("HTTP/1.1 200"); at != std::string::npos;
         at = got.find("HTTP/1.1 200", at + 1)) {
      ++n;
    }
    return n;
  };
  while (answers() < 20 || !got.ends_with("now")) {
    REQUIRE(c.readable_within(10'000));
    char buf[65536];
    const auto n = ::recv(c.fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    REQUIRE(n > 0);
    got.append(buf, static_cast<std::size_t>(n));
    ++reads;
  }
  CHECK(answers() == 20);
  CHECK(reads <= 2);
}

TEST_CASE("poll engine: the shutdown token closes idle connections and closes after requests",
          "[http_server]") {
  POLL_ENGINE_DRIVERS();
  Gates g;
  PollServer s(drv, g);
  http_test::Client idle(s.port), busy(s.port), partial(s.port);
  idle.send(kGetNow);
  CHECK(idle.response().body == "now");
  busy.send("GET /coro-wait HTTP/1.1\r\nHost: t\r\n\r\n");
  wait_until([&] { return g.waiting.load() == 1; });
  // A request whose head the server has read (its 100 Continue says so)
  // and whose body has yet to come.
  partial.send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  CHECK(partial.response().status == 100);
  s.rt->shutdown_token().cancel();  // what a drain begins with
  CHECK(idle.closed());
  idle.close();  // (a lingering close ends at the client's end of stream)
  // The requests in progress are answered, with Connection: close.
  g.open.cancel();
  auto r = busy.response();
  CHECK(r.body == "coroutine");
  CHECK(r.field("Connection") == "close");
  CHECK(busy.closed());
  busy.close();
  partial.send("body");
  r = partial.response();
  CHECK(r.body == "body");
  CHECK(r.field("Connection") == "close");
  CHECK(partial.closed());
  partial.close();
  wait_until([&] { return s.open() == 0; });
}

TEST_CASE("poll engine: a drain finishes in time with idle connections and a request in flight",
          "[http_server]") {
  POLL_ENGINE_DRIVERS();
  Gates g;
  PollServer s(drv, g);
  http_test::Client idle(s.port), busy(s.port);
  idle.send(kGetNow);
  CHECK(idle.response().body == "now");
  busy.send("GET /until-drain HTTP/1.1\r\nHost: t\r\n\r\n");
  wait_until([&] { return g.waiting.load() == 1; });
  duet::DrainReport rep;
  std::thread drainer([&] { rep = s.rt->drain(10s); });
  // The clients read what the drain sends them and close, which ends the
  // server's lingering closes.
  CHECK(idle.closed());
  idle.close();
  auto r = busy.response();
  CHECK(r.body == "drained");
  CHECK(r.field("Connection") == "close");
  CHECK(busy.closed());
  busy.close();
  drainer.join();
  CHECK(rep.finished_in_time);
  CHECK(s.open() == 0);
}

// server_fixture.hpp: what the duet::http server tests run around it: the
// blocking loopback client of tests/support/http_peer.hpp, and a Server
// with test routes on a Runtime of a chosen engine, driver and clock.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <duet/http.hpp>
#include <duet/stackful.hpp>
#include <duet/tls/stream.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "http_peer.hpp"
#include "io_util.hpp"
#include "tls_peer.hpp"

// Every case runs on every engine and both drivers; a driver this kernel
// refuses is skipped with its reason. `name` names the case's watchdog.
#define HTTP_ENGINE_MATRIX(name)                                                                   \
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);            \
  const duet::http::Engine engine = GENERATE(duet::http::Engine::coroutine,                        \
                                             duet::http::Engine::fiber, duet::http::Engine::poll); \
  INFO("driver " << duet::to_string(drv).data() << ", engine " << duet::http::to_string(engine));  \
  if (!duet::iotest::driver_available(drv)) {                                                      \
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");              \
    return;                                                                                        \
  }                                                                                                \
  duet::iotest::Watchdog wd(name, std::chrono::seconds(120))

namespace http_server_test {

using namespace std::chrono_literals;

/// A runtime of one worker on `d`, whose fibers parked `fiber_kept_idle`
/// count as long idle (RuntimeConfig::fiber_stack_trim_after: the fiber
/// engine's idle connection then gives its fiber back).
inline std::unique_ptr<duet::Runtime> one_worker_rt(duet::IoDriver d,
                                                    std::chrono::nanoseconds fiber_kept_idle) {
  ::unsetenv("DUET_DRIVER");  // the driver chosen through the config
  duet::RuntimeConfig cfg;
  cfg.workers = 1;
  cfg.placement = duet::Placement::none;
  cfg.io_driver = d;
  cfg.fiber_stack_trim_after = fiber_kept_idle;
  return std::make_unique<duet::Runtime>(cfg);
}

/// Runs `body` (a coroutine) to its end on a one-worker runtime: a case
/// that plays an engine's part with no socket (handlers' turns and fibers,
/// a writer over a recorded stream).
template <class F>
void on_one_worker(F body) {
  duet::RuntimeConfig cfg;
  cfg.workers = 1;
  duet::Runtime rt(cfg);
  rt.block_on(body());
}

/// The server context over the test certificates (ALPN `alpn`), or none
/// where the openssl tool that makes them is missing (the case then skips,
/// saying so). It must outlive the runtime that serves it.
inline std::optional<duet::tls::TlsContext> test_server_tls(std::vector<std::string> alpn = {}) {
  if (!duet::tlstest::have_openssl()) {
    WARN("SKIP: the openssl tool is not installed (it makes the test certificates)");
    return std::nullopt;
  }
  const auto& certs = duet::tlstest::certs();
  REQUIRE(certs.ok);
  duet::tls::ServerConfig sc;
  sc.cert_file = certs.server;
  sc.key_file = certs.server_key;
  sc.alpn = std::move(alpn);
  auto ctx = duet::tls::TlsContext::server(sc);
  REQUIRE(ctx);
  return std::move(*ctx);
}

/// The blocking loopback client (tests/support/http_peer.hpp).
using Reply = http_test::Response;
using Client = http_test::Client;

/// What the test routes let a test see.
struct Probe {
  std::atomic<int> slow_entered{0};  // requests inside /slow
  std::mutex mu;
  std::vector<std::pair<int, std::size_t>> log;  // hooks: (status, body bytes)
  std::vector<std::string> log_paths;
  std::vector<std::string> body_errors;  // what a streamed body's reader failed with
  std::atomic<int> body_error_count{0};
  std::atomic<int> pieces_made{0};              // by /gen's producers
  std::atomic<int> held{0};                     // /hold: handlers that read their first piece
  std::atomic<bool> release{false};             // /hold: read on
  std::atomic<std::size_t> body_bytes_read{0};  // by /sum's readers, in both models
  duet::CancellationToken gate;                 // /gate: answers once cancelled
  std::atomic<int> gate_entered{0};             // /gate: handlers waiting on it
  // /gate: handlers past their wait, done with `gate` (a test that makes a
  // new gate waits for it: the socket orders the two, which TSan cannot see)
  std::atomic<int> gate_left{0};
};

/// /gen's body: `n` pieces of 1000 bytes, the i-th all one letter.
inline std::string gen_body(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.append(1000, static_cast<char>('a' + i % 26));
  return s;
}

/// A response whose body is gen_body(n), produced piece by piece; the
/// producer fails after `fail_after` pieces (negative: never). `known`:
/// with its length.
inline duet::http::Response gen_response(Probe& p, int status, int n, bool known,
                                         int fail_after = -1) {
  auto next = std::make_shared<int>(0);
  return duet::http::streamed_response(
      status,
      [&p, next, n, fail_after]() -> duet::Task<duet::Result<std::string>> {
        const int i = (*next)++;
        if (i == fail_after) co_return std::errc::io_error;
        if (i >= n) co_return std::string();
        p.pieces_made.fetch_add(1);
        co_return std::string(1000, static_cast<char>('a' + i % 26));
      },
      known ? std::optional<std::size_t>(static_cast<std::size_t>(n) * 1000) : std::nullopt);
}

/// /gen's query: n=, known=1, fail=.
inline int gen_param(const duet::http::Request& q, std::string_view name, int dflt) {
  const auto v = q.query_param(name);
  return v ? std::stoi(std::string(*v)) : dflt;
}

/// FNV-1a over a body, to check one byte for byte without keeping it.
inline std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 14695981039346656037ull) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

/// What /sum answers: whether the body was streamed, its size and hash.
inline std::string sum_answer(bool streamed, std::size_t n, std::uint64_t h) {
  return "streamed=" + std::to_string(streamed ? 1 : 0) + " bytes=" + std::to_string(n) +
         " fnv=" + std::to_string(h);
}

/// Reads `q`'s body in pieces of 1000 bytes (coroutine): the answer
/// sum_answer gives, or 400 with the reader's error (recorded in `p`).
inline duet::Task<duet::http::Response> sum_body(Probe& p, duet::http::Request& q) {
  const bool streamed = q.body_streamed();
  std::array<std::byte, 1000> buf{};
  std::size_t total = 0;
  std::uint64_t h = fnv1a({});
  for (;;) {
    duet::Result<std::size_t> n = co_await duet::http::read_body(q, buf);
    if (!n) {
      {
        std::lock_guard lk(p.mu);
        p.body_errors.push_back(n.error().message());
      }
      p.body_error_count.fetch_add(1);
      co_return duet::http::Response::text(400, "error: " + n.error().message());
    }
    if (*n == 0) break;
    h = fnv1a(std::string_view(reinterpret_cast<const char*>(buf.data()), *n), h);
    total += *n;
    p.body_bytes_read.fetch_add(*n);
  }
  co_return duet::http::Response::text(200, sum_answer(streamed, total, h));
}

/// The same as plain calls on the handler's fiber.
inline duet::http::Response sum_body_plain(Probe& p, duet::http::Request& q) {
  const bool streamed = q.body_streamed();
  std::array<std::byte, 1000> buf{};
  std::size_t total = 0;
  std::uint64_t h = fnv1a({});
  for (;;) {
    duet::Result<std::size_t> n = duet::http::read_body_now(q, buf);
    if (!n) {
      {
        std::lock_guard lk(p.mu);
        p.body_errors.push_back(n.error().message());
      }
      p.body_error_count.fetch_add(1);
      return duet::http::Response::text(400, "error: " + n.error().message());
    }
    if (*n == 0) break;
    h = fnv1a(std::string_view(reinterpret_cast<const char*>(buf.data()), *n), h);
    total += *n;
    p.body_bytes_read.fetch_add(*n);
  }
  return duet::http::Response::text(200, sum_answer(streamed, total, h));
}

/// Adds one piece of a body to a running sum (sum_pieces): false at the
/// body's end or an error (the answer then in `fail`).
inline bool add_piece(Probe& p, duet::Result<std::string>& piece, std::size_t& total,
                      std::uint64_t& h, std::optional<duet::http::Response>& fail) {
  if (!piece) {
    fail = duet::http::Response::text(400, "error: " + piece.error().message());
    return false;
  }
  if (piece->empty()) return false;
  h = fnv1a(*piece, h);
  total += piece->size();
  p.body_bytes_read.fetch_add(piece->size());
  return true;
}

/// What /sum answers, from the body's pieces as they arrive
/// (read_body_piece, coroutine).
inline duet::Task<duet::http::Response> sum_pieces(Probe& p, duet::http::Request& q) {
  const bool streamed = q.body_streamed();
  std::size_t total = 0;
  std::uint64_t h = fnv1a({});
  std::optional<duet::http::Response> fail;
  for (;;) {
    duet::Result<std::string> piece = co_await duet::http::read_body_piece(q);
    if (!add_piece(p, piece, total, h, fail)) break;
  }
  if (fail) co_return std::move(*fail);
  co_return duet::http::Response::text(200, sum_answer(streamed, total, h));
}

/// The same as plain calls on the handler's fiber (read_body_piece_now).
inline duet::http::Response sum_pieces_plain(Probe& p, duet::http::Request& q) {
  const bool streamed = q.body_streamed();
  std::size_t total = 0;
  std::uint64_t h = fnv1a({});
  std::optional<duet::http::Response> fail;
  for (;;) {
    duet::Result<std::string> piece = duet::http::read_body_piece_now(q);
    if (!add_piece(p, piece, total, h, fail)) break;
  }
  if (fail) return std::move(*fail);
  return duet::http::Response::text(200, sum_answer(streamed, total, h));
}

/// The test routes, each in both models: a coroutine handler at the path,
/// a plain one at the path with "-plain" appended.
/// - /plaintext, /json: TechEmpower's answers;
/// - POST /echo: the body back;
/// - /throw: throws; /cancel: throws duet::Cancelled (as a cancelled wait does);
/// - /gate: counts itself in, then waits for the probe's gate;
/// - /slow: counts itself in, then waits for the drain (`stop`);
/// - POST /sum: reads the body in pieces, answers sum_answer;
/// - POST /pieces: the same from the pieces as they arrive (read_body_piece);
/// - POST /ignore: answers without reading the body;
/// - POST /whole: read_whole_body (cap 1 MiB), answers the body's size;
/// - GET /gen?n=&known=&fail=&status=: a body from a source (gen_response).
inline duet::http::Router test_routes(Probe& p, const duet::CancellationToken* stop) {
  using duet::http::Request;
  using duet::http::Response;
  duet::http::Router r;
  r.get("/plaintext",
        [](Request&) -> duet::Task<Response> { co_return Response::text(200, "Hello, World!"); });
  r.get("/plaintext-plain", [](Request&) { return Response::text(200, "Hello, World!"); });
  r.get("/json", [](Request&) -> duet::Task<Response> {
    co_return Response::json(200, R"({"message":"Hello, World!"})");
  });
  r.get("/json-plain",
        [](Request&) { return Response::json(200, R"({"message":"Hello, World!"})"); });
  r.post("/echo",
         [](Request& q) -> duet::Task<Response> { co_return Response::text(200, q.body); });
  r.post("/echo-plain", [](Request& q) { return Response::text(200, q.body); });
  r.get("/throw", [](Request&) -> duet::Task<Response> {
    throw std::runtime_error("handler failed");
    co_return Response::empty(200);
  });
  r.get("/throw-plain", [](Request&) -> Response { throw std::runtime_error("handler failed"); });
  r.get("/cancel", [](Request&) -> duet::Task<Response> {
    throw duet::Cancelled();
    co_return Response::empty(200);
  });
  r.get("/cancel-plain", [](Request&) -> Response { throw duet::Cancelled(); });
  r.get("/gate", [&p](Request&) -> duet::Task<Response> {
    p.gate_entered.fetch_add(1);
    co_await p.gate.cancelled();
    p.gate_left.fetch_add(1);
    co_return Response::text(200, "gate");
  });
  r.get("/gate-plain", [&p](Request&) {
    p.gate_entered.fetch_add(1);
    duet::wait(p.gate.cancelled());
    p.gate_left.fetch_add(1);
    return Response::text(200, "gate");
  });
  r.get("/slow", [&p, stop](Request&) -> duet::Task<Response> {
    p.slow_entered.fetch_add(1);
    co_await stop->cancelled();
    co_return Response::text(200, "slow");
  });
  r.get("/slow-plain", [&p, stop](Request&) {
    p.slow_entered.fetch_add(1);
    duet::wait(stop->cancelled());
    return Response::text(200, "slow");
  });
  r.prefix(duet::http::Method::get, "/files/",
           [](Request& q) { return Response::text(200, std::string(q.path())); });
  r.route(duet::http::Method::put, "/json", [](Request&) { return Response::empty(204); });
  r.post("/sum", [&p](Request& q) { return sum_body(p, q); });
  r.post("/sum-plain", [&p](Request& q) { return sum_body_plain(p, q); });
  r.post("/pieces", [&p](Request& q) { return sum_pieces(p, q); });
  r.post("/pieces-plain", [&p](Request& q) { return sum_pieces_plain(p, q); });
  r.post("/ignore",
         [](Request&) -> duet::Task<Response> { co_return Response::text(200, "ignored"); });
  r.post("/ignore-plain", [](Request&) { return Response::text(200, "ignored"); });
  r.post("/whole", [](Request& q) -> duet::Task<Response> {
    duet::Result<void> w = co_await duet::http::read_whole_body(q, 1 << 20);
    if (!w) co_return Response::text(400, w.error().message());
    co_return Response::text(200,
                             std::to_string(q.body.size()) + " " + std::to_string(fnv1a(q.body)));
  });
  r.post("/whole-plain", [](Request& q) {
    duet::Result<void> w = duet::http::read_whole_body_now(q, 1 << 20);
    if (!w) return Response::text(400, w.error().message());
    return Response::text(200, std::to_string(q.body.size()) + " " + std::to_string(fnv1a(q.body)));
  });
  r.get("/gen", [&p](Request& q) -> duet::Task<Response> {
    co_return gen_response(p, gen_param(q, "status", 200), gen_param(q, "n", 50),
                           gen_param(q, "known", 0) != 0, gen_param(q, "fail", -1));
  });
  r.get("/gen-plain", [&p](Request& q) {
    return gen_response(p, gen_param(q, "status", 200), gen_param(q, "n", 50),
                        gen_param(q, "known", 0) != 0, gen_param(q, "fail", -1));
  });
  // /hold: reads 1000 bytes, then waits for `release` (observable state,
  // looked at every millisecond), then reads the rest.
  r.post("/hold", [&p](Request& q) -> duet::Task<Response> {
    std::array<std::byte, 1000> first{};
    duet::Result<std::size_t> n = co_await duet::http::read_body(q, first);
    if (!n) co_return Response::text(400, n.error().message());
    p.held.fetch_add(1);
    while (!p.release.load()) co_await duet::sleep(std::chrono::milliseconds(1));
    Response rest = co_await sum_body(p, q);
    co_return Response::text(rest.status, std::to_string(*n) + " + " + rest.body);
  });
  r.post("/hold-plain", [&p](Request& q) {
    std::array<std::byte, 1000> first{};
    duet::Result<std::size_t> n = duet::http::read_body_now(q, first);
    if (!n) return Response::text(400, n.error().message());
    p.held.fetch_add(1);
    while (!p.release.load()) duet::wait(duet::sleep(std::chrono::milliseconds(1)));
    Response rest = sum_body_plain(p, q);
    return Response::text(rest.status, std::to_string(*n) + " + " + rest.body);
  });
  return r;
}

/// A Server on 127.0.0.1 (a free port) with the test routes, served by a
/// runtime on driver `d`. The destructor drains the runtime (and records
/// whether anything had to be cancelled), then destroys it before the
/// server, whose state its tasks borrow.
struct Fixture {
  /// The routes a case serves instead of test_routes (made with the
  /// fixture's probe).
  using Routes = std::function<duet::http::Router(Probe&)>;

  Fixture(duet::http::Engine e, duet::IoDriver d, duet::http::ServerConfig o = {},
          duet::ClockMode clock = duet::ClockMode::real)
      : Fixture(e, d, Routes(), std::move(o), clock) {}
  /// `workers`: the runtime's (one makes a task that never suspends starve
  /// every other, which a case may want to see).
  Fixture(duet::http::Engine e, duet::IoDriver d, const Routes& routes,
          duet::http::ServerConfig o = {}, duet::ClockMode clock = duet::ClockMode::real,
          std::size_t workers = 2)
      : rt(duet::iotest::make_rt(d, workers, clock)), stop(rt->shutdown_token()) {
    o.engine = e;
    if (!o.hooks.on_response) {
      o.hooks.on_response = [this](const duet::http::AccessEntry& a) {
        std::lock_guard lk(probe.mu);
        probe.log.emplace_back(a.status, a.body_bytes);
        probe.log_paths.emplace_back(a.request.path());
      };
    }
    server = std::make_unique<duet::http::Server>(
        routes ? routes(probe) : test_routes(probe, &stop), std::move(o));
    auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
    if (!l) throw std::runtime_error("bind: " + l.error().message());
    port = l->local_addr()->port();
    server->serve(*rt, std::move(*l));
  }

  /// A second listener, over TLS with `ctx` (which must outlive the runtime).
  std::uint16_t serve_tls(const duet::tls::TlsContext& ctx) {
    auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
    if (!l) throw std::runtime_error("bind: " + l.error().message());
    const std::uint16_t p = l->local_addr()->port();
    server->serve_tls(*rt, std::move(*l), ctx);
    return p;
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;
  ~Fixture() { finish(); }

  /// Drains and destroys the runtime (once); the DrainReport's cancelled count.
  std::size_t finish() {
    if (rt) {
      cancelled = rt->drain(5s).cancelled.size();
      rt.reset();
    }
    return cancelled;
  }

  Probe probe;
  std::unique_ptr<duet::Runtime> rt;
  duet::CancellationToken stop;
  std::unique_ptr<duet::http::Server> server;
  std::uint16_t port = 0;
  std::size_t cancelled = 0;
};

}  // namespace http_server_test

// duet/http/server.hpp: an HTTP/1.1 server: routes to handlers written as
// coroutines or as fibers, served by one of three connection engines over
// the one protocol core (duet/http/codec.hpp).
//
// Handlers are user code, in either model, chosen by what the callable
// returns:
// - `duet::Task<Response>(Request&)`: a coroutine handler;
// - `Response(Request&)`: a plain function, run on a fiber (the
//   connection's own under the fiber engine; one spawned for the request
//   under the others), so it may wait anywhere inside it (duet::wait).
//
// Engines (ServerOptions::engine): how a connection waits; one connection
// machine decides every step for all three, so they answer alike
// (docs/http.md, "The connection machine"):
// - `coroutine`: a Task per connection, a co_await at each wait.
// - `fiber`: a fiber per connection, a blocking call at each wait.
// - `poll`: one hand-written poll future per connection, the tuned
//   ceiling.
// Each engine runs either kind of handler. A coroutine handler runs in the
// connection's task; a plain one on a fiber (the connection's own under
// the fiber engine, else one spawned for the request). A handler that
// throws is answered 500; one that is cancelled (throws duet::Cancelled)
// 503 with "Connection: close".
//
// Drain: the server serves until its runtime's shutdown_token() is
// cancelled (`rt.drain(...)` does it): then it stops accepting, closes
// idle connections, and answers requests in flight with
// "Connection: close"; rt.drain waits for them (every connection is a task
// of the runtime).
//
// Example (file):
//   duet::http::Router routes() {
//     duet::http::Router r;
//     r.get("/plaintext", [](duet::http::Request&) -> duet::Task<duet::http::Response> {
//       co_return duet::http::Response::text(200, "Hello, World!");
//     });
//     r.get("/hello", [](duet::http::Request&) { return duet::http::Response::text(200, "hi"); });
//     return r;
//   }
//   void serve_until_drained() {
//     duet::Runtime rt;
//     duet::http::Server server(routes(), duet::http::ServerOptions{});
//     auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
//     server.serve(rt, std::move(*l));
//     // ... later, from a thread outside the runtime:
//     rt.drain(std::chrono::seconds(5));
//   }
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "duet/http/codec.hpp"
#include "duet/http/message.hpp"
#include "duet/net/tcp.hpp"
#include "duet/runtime.hpp"
#include "duet/stackless/task.hpp"

namespace duet::tls {
class TlsContext;
}

namespace duet::http {

/// A coroutine handler.
using CoroHandler = std::function<Task<Response>(Request&)>;
/// A plain handler, run on a fiber.
using FiberHandler = std::function<Response(Request&)>;

/// What a route runs: one of the two, by the callable's return type.
class Handler {
 public:
  template <class F>
  requires std::is_invocable_r_v<Task<Response>, F&, Request&> Handler(F f)
      : coro_(std::move(f)) {}  // NOLINT: implicit, as std::function
  template <class F>
  requires(std::is_invocable_r_v<Response, F&, Request&> &&
           !std::is_invocable_r_v<Task<Response>, F&, Request&>) Handler(F f)
      : fiber_(std::move(f)) {}  // NOLINT: implicit, as std::function

  [[nodiscard]] bool is_coroutine() const noexcept { return static_cast<bool>(coro_); }
  [[nodiscard]] const CoroHandler& coroutine() const noexcept { return coro_; }
  [[nodiscard]] const FiberHandler& fiber() const noexcept { return fiber_; }

 private:
  CoroHandler coro_;
  FiberHandler fiber_;
};

/// Routes by method and path: exact paths first, then the longest prefix.
class DUET_API Router {
 public:
  /// `path` exactly ("/json").
  Router& route(Method m, std::string path, Handler h);
  /// Every path that starts with `prefix` ("/proxy/").
  Router& prefix(Method m, std::string prefix, Handler h);
  Router& get(std::string path, Handler h) {
    return route(Method::get, std::move(path), std::move(h));
  }
  Router& post(std::string path, Handler h) {
    return route(Method::post, std::move(path), std::move(h));
  }

  /// What a request finds.
  struct Match {
    const Handler* handler = nullptr;  // null: answer `status`
    int status = 200;                  // 404 (no path), 405 (path, not the method), 501
    std::string allow;                 // 405: the methods the path has, "GET, HEAD"
  };
  /// The handler for `method` at `path`. A GET route answers HEAD too (the
  /// server drops the body); a method no route names anywhere is 501.
  [[nodiscard]] Match find(Method method, std::string_view method_name,
                           std::string_view path) const;

 private:
  struct Route {
    Method method;
    std::string path;
    bool prefix;
    Handler handler;
  };
  std::vector<Route> routes_;
};

/// One answered request, for an access log or metrics (Hooks::on_response).
struct AccessEntry {
  const Request& request;
  int status;
  std::size_t body_bytes;            // of the response body
  std::chrono::nanoseconds elapsed;  // from the request's head to its answer written
};

/// Hooks the server calls on the connection's task; they must not block.
struct Hooks {
  /// When each answer is added to the connection's output, before it is
  /// written (errors a route or a handler gave included; a request the
  /// decoder refused has no Request, and is counted only).
  std::function<void(const AccessEntry&)> on_response{};
  /// When an accept fails (EMFILE, ENFILE, ENOBUFS, ...): the loop backs
  /// off a moment and accepts again; the server stays up.
  std::function<void(std::error_code)> on_accept_error{};
};

enum class Engine : std::uint8_t { coroutine, fiber, poll };
/// "coroutine", "fiber", "poll".
[[nodiscard]] DUET_API std::string_view to_string(Engine e) noexcept;

struct ServerOptions {
  Engine engine = Engine::coroutine;
  Limits limits{};
  /// Connections open at once; one accepted past it is closed at once.
  std::size_t max_connections = 100'000;
  /// Requests a connection answers before it closes (the last is answered
  /// with "Connection: close"); 0: no limit.
  std::size_t max_requests_per_connection = 0;
  Hooks hooks{};
};

/// Counters, read at any time (relaxed: each is a statistic on its own).
struct ServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused_over_cap = 0;  // closed at once: max_connections open
  std::uint64_t open = 0;              // connections open now
  std::uint64_t requests = 0;          // answered, errors included
  std::uint64_t accept_errors = 0;     // failed accepts (Hooks::on_accept_error)
};

class DUET_API Server {
 public:
  Server(Router routes, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Spawns the accept loop of `listener` on `rt`: every connection it
  /// accepts is a task of the engine's kind. Serves until rt's
  /// shutdown_token() is cancelled. The server must outlive rt's tasks
  /// (rt.drain or rt.shutdown before destroying it).
  void serve(Runtime& rt, net::TcpListener listener);
  /// The same over TLS: each connection's handshake first (within
  /// Limits::read_timeout). `ctx` must outlive the server's tasks.
  void serve_tls(Runtime& rt, net::TcpListener listener, const tls::TlsContext& ctx);

  [[nodiscard]] ServerStats stats() const noexcept;
  [[nodiscard]] const ServerOptions& options() const noexcept;
  [[nodiscard]] const Router& routes() const noexcept;

  struct State;  // what every connection shares (private: src/http/)

 private:
  std::unique_ptr<State> state_;
};

}  // namespace duet::http

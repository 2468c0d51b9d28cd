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
// Engines (ServerConfig::engine): how a connection waits; one connection
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
// cancelled (`rt.drain(...)` does it), or until Server::shutdown stops it
// alone: then it stops accepting, closes idle connections, and answers
// requests in flight with "Connection: close"; rt.drain waits for them
// (every connection is a task of the runtime), and so does the Task of
// Server::shutdown, up to its deadline.
//
// Example (file):
//   duet::http::Router routes() {
//     duet::http::Router r;
//     r.get("/plaintext", [](duet::http::Request&) -> duet::Task<duet::http::Response> {
//       co_return duet::http::Response::text(200, "Hello, World!");
//     });
//     r.get("/hello", [](duet::http::Request&) { return duet::http::Response::text(200, "hi"); });
//     r.get("/hello/{name}", [](duet::http::Request& req) {
//       return duet::http::Response::text(200, "hi " + std::string(req.param("name")));
//     });
//     return r;
//   }
//   void serve_until_drained() {
//     duet::Runtime rt;
//     duet::http::Server server(routes(), duet::http::ServerConfig{});
//     auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
//     server.serve(rt, std::move(*l));
//     // ... later, from a thread outside the runtime:
//     rt.drain(std::chrono::seconds(5));
//   }
#pragma once

#include "duet/export.hpp"

#include <array>
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
#include "duet/names.hpp"
#include "duet/net/tcp.hpp"
#include "duet/runtime.hpp"
#include "duet/stackless/task.hpp"

namespace duet::tls {
class TlsContext;
}

namespace duet::http {

/// A coroutine handler.
using CoroutineHandler = std::function<Task<Response>(Request&)>;
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
  [[nodiscard]] const CoroutineHandler& coroutine() const noexcept { return coro_; }
  [[nodiscard]] const FiberHandler& fiber() const noexcept { return fiber_; }

 private:
  CoroutineHandler coro_;
  FiberHandler fiber_;
};

/// Routes by method and path.
///
/// A route's path is a pattern of segments between '/': a literal
/// ("/users"), a parameter that takes one whole non-empty segment
/// ("/users/{id}", read with Request::param("id")), or, as the last
/// segment, a catch-all that takes the rest of the path, at least one
/// byte, slashes included ("/files/{*rest}": "a/b.txt" of
/// "/files/a/b.txt"). A segment is a literal or a whole "{name}"; names
/// are letters, digits and '_', unique within a pattern, at most
/// PathParams::kMax of them. A literal may be written percent-encoded;
/// it is compared decoded.
///
/// Matching a path:
/// - segment by segment, a literal before a parameter before a
///   catch-all; when a branch fails further on, the next one is tried
///   ("/users/new" beats "/users/{id}", and "/users/new/posts" still
///   reaches "/users/{id}/posts");
/// - the path is split at '/' first, then each segment percent-decoded:
///   "%2F" inside a parameter stays in that parameter (a catch-all's value
///   is decoded whole, so there "%2F" and "/" read alike);
/// - the routes added with prefix() are tried only when no pattern
///   matches: the longest prefix, byte for byte; a path that does not
///   start with '/' ("*", an authority) matches only a route of that
///   exact text.
/// The path picks the routes, then the method picks among them: its own
/// method's route, else a GET route for HEAD (the server drops the body);
/// none is 405 with Allow. No path is 404; a method no route names
/// anywhere is 501; a path or query holding a malformed escape is 400.
/// Two routes of one pattern and method: the first added serves.
///
/// Matching allocates nothing (a 405's Allow aside, and a parameter that
/// held an escape, decoded into the request's PathParams); its cost grows
/// with the path's segments and the literals beside each, not with the
/// number of routes.
class DUET_API Router {
 public:
  /// `path`, a pattern ("/json", "/kv/{key}", "/files/{*rest}"), for
  /// method `m` (Method::other: every method token outside RFC 9110's
  /// nine). Throws std::invalid_argument for a malformed pattern (a brace
  /// inside a literal, a bad or repeated name, a catch-all not last, more
  /// than PathParams::kMax parameters, a malformed escape).
  Router& route(Method m, std::string path, Handler h);
  /// Every path that starts with `prefix` ("/proxy/"), byte for byte,
  /// when no pattern matches it; the longest prefix wins. "{*rest}" is the
  /// segment-wise form.
  Router& prefix(Method m, std::string prefix, Handler h);
  Router& get(std::string path, Handler h) {
    return route(Method::get, std::move(path), std::move(h));
  }
  Router& post(std::string path, Handler h) {
    return route(Method::post, std::move(path), std::move(h));
  }
  Router& put(std::string path, Handler h) {
    return route(Method::put, std::move(path), std::move(h));
  }
  Router& patch(std::string path, Handler h) {
    return route(Method::patch, std::move(path), std::move(h));
  }
  /// DELETE: the trailing underscore of Method::delete_ (`delete` is a
  /// keyword).
  Router& delete_(std::string path, Handler h) {
    return route(Method::delete_, std::move(path), std::move(h));
  }
  /// HEAD of its own (else a GET route answers HEAD).
  Router& head(std::string path, Handler h) {
    return route(Method::head, std::move(path), std::move(h));
  }
  Router& options(std::string path, Handler h) {
    return route(Method::options, std::move(path), std::move(h));
  }

  /// What a request finds.
  struct Match {
    const Handler* handler = nullptr;  // null: answer `status`
    int status = 200;   // 400 (a malformed escape), 404 (no path), 405 (path, not the method), 501
    std::string allow;  // 405: the methods the path has, "GET, HEAD"
    /// find's: the pattern's parameters, read against the path given
    /// (`params.find("id", path)`); match() puts them in the request.
    PathParams params;
  };
  /// The handler for `method` at `path` (a request's path(), without the
  /// query), and the parameters its pattern captured.
  [[nodiscard]] Match find(Method method, std::string_view path) const;
  /// What the server calls: find() for `req`'s method and path, with the
  /// pattern's parameters put in req.params (the Match's left empty), and
  /// 400 for a malformed escape in the query too.
  [[nodiscard]] Match match(Request& req) const;

 private:
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};
  enum class Kind : std::uint8_t { pattern, prefix, verbatim };
  struct Route {
    Method method;
    Kind kind;
    std::string path;                // as given
    std::vector<std::string> names;  // the parameters', in order
    Handler handler;
  };
  /// A node of the pattern tree: the routes that end here, and the
  /// segments that go on from here.
  struct Node {
    std::vector<std::pair<std::string, std::uint32_t>> literals;  // decoded text, node
    std::uint32_t param = kNone;                                  // "{name}": its node
    std::vector<std::uint32_t> here;                              // routes ending here
    std::vector<std::uint32_t> rest;                              // "{*name}" routes here
  };
  struct Found;
  bool descend(Found& f) const;
  bool walk(std::uint32_t node, std::size_t pos, Found& f) const;
  /// find() for `path`; `checked` is what must hold no malformed escape
  /// (the path, or the whole target); the parameters into `into`, or the
  /// Match's own when null.
  Match find_into(Method method, std::string_view path, std::string_view checked,
                  PathParams* into) const;

  std::vector<Route> routes_;
  std::vector<Node> nodes_;            // [0]: the root, once a pattern is added
  std::vector<std::uint32_t> others_;  // prefix and verbatim routes
  std::uint32_t methods_ = 0;          // a bit per Method some route serves
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
constexpr std::array<Engine, 3> enum_values(Engine) noexcept {
  return {Engine::coroutine, Engine::fiber, Engine::poll};
}
/// "coroutine", "fiber", "poll".
[[nodiscard]] DUET_API std::string_view to_string(Engine e) noexcept;

struct ServerConfig {
  Engine engine = Engine::coroutine;
  Limits limits{};
  /// Connections open at once; one accepted past it is closed at once.
  std::size_t max_connections = 100'000;
  /// Requests a connection answers before it closes (the last is answered
  /// with "Connection: close"); 0: no limit.
  std::size_t max_requests_per_connection = 0;
  Hooks hooks{};
};

/// What Server::shutdown saw when it ended.
struct ShutdownReport {
  /// Every connection closed (and every listener) before the deadline.
  bool finished_in_time = true;
  /// Connections still open at the deadline: left to run (the runtime's
  /// drain or shutdown cancels them).
  std::uint64_t open = 0;
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
  Server(Router routes, ServerConfig options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Spawns the accept loop of `listener` on `rt`: every connection it
  /// accepts is a task of the engine's kind. Serves until rt's
  /// shutdown_token() is cancelled. The server must outlive rt's tasks
  /// (rt.drain or rt.shutdown before destroying it).
  void serve(Runtime& rt, net::TcpListener listener);
  /// The same over TLS: each connection's handshake first (within
  /// Limits::io_timeout). `ctx` must outlive the server's tasks.
  void serve_tls(Runtime& rt, net::TcpListener listener, const tls::TlsContext& ctx);

  /// Stops this server alone, its runtime running on (Go's
  /// Server.Shutdown): at the call, each accept loop stops and closes its
  /// listener, idle connections close, and requests in flight are answered
  /// with "Connection: close", as in the runtime's drain. The Task then
  /// waits until every connection and listener of the server has closed,
  /// or `grace` has passed since the call, and reports which; connections
  /// still open at the deadline are not cut. A server shut down serves no
  /// more (a later serve() closes its listener at once). The server must
  /// still outlive its runtime's tasks, and the Task.
  [[nodiscard]] Task<ShutdownReport> shutdown(std::chrono::nanoseconds grace);
  /// The same as a plain call: on a fiber, or on a thread outside the
  /// runtime (it waits there; not on a worker's coroutine, which it would
  /// block).
  [[nodiscard]] ShutdownReport shutdown_now(std::chrono::nanoseconds grace);

  [[nodiscard]] ServerStats stats() const noexcept;
  [[nodiscard]] const ServerConfig& options() const noexcept;
  [[nodiscard]] const Router& routes() const noexcept;

  struct State;  // what every connection shares (private: src/http/)

 private:
  std::unique_ptr<State> state_;
};

}  // namespace duet::http

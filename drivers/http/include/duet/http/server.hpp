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
//
// Middleware and per-route limits (Middleware, Handler::layer,
// Router::layer, RouteLimits):
//
// Example (file):
//   duet::http::Middleware require_token() {
//     return [](duet::http::Request& req, duet::http::Next next) ->
//     duet::Task<duet::http::Response> {
//       if (req.headers.get("Authorization") != "Bearer secret") {
//         co_return duet::http::Response::empty(duet::http::status::unauthorized);
//       }
//       co_return co_await next.run(req);
//     };
//   }
//   duet::http::Middleware request_id() {
//     return [](duet::http::Request& req, duet::http::Next next) {
//       duet::http::Response res = next.run_now(req);
//       res.headers.set("X-Request-Id", req.headers.get("X-Request-Id").value_or("none"));
//       return res;
//     };
//   }
//   duet::http::Router with_layers() {
//     duet::http::Router r;
//     r.get("/admin", duet::http::Handler([](duet::http::Request&) {
//                       return duet::http::Response::text(200, "admin");
//                     }).layer(require_token()));
//     r.post("/upload", duet::http::Handler([](duet::http::Request&) {
//                         return duet::http::Response::empty(204);
//                       }).max_body_bytes(50 << 20).deadline(std::chrono::seconds(30)));
//     r.layer(request_id());  // every route added so far
//     return r;
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
#include <optional>
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

class Middleware;
namespace detail {
struct InlineCall;  // a plain rest asked for by a coroutine layer (middleware.cpp)
}

/// A route's own limits, over ServerConfig::limits (Handler::max_body_bytes,
/// Handler::deadline).
struct RouteLimits {
  /// The route's body limit in place of Limits::max_body_bytes (larger or
  /// smaller); a body past it is answered 413, as the server-wide one is.
  std::optional<std::size_t> max_body_bytes{};
  /// How long the handler may run, from the request's head complete; 0:
  /// no deadline. A handler still running at it is cancelled and the
  /// client gets 503 with "Connection: close" (Go's TimeoutHandler).
  std::chrono::nanoseconds deadline{0};
};

/// What a route runs: one of the two, by the callable's return type, with
/// its layers (Middleware) and its own limits (RouteLimits).
class DUET_API Handler {
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

  /// This handler wrapped in `m` (outside the layers it has already).
  [[nodiscard]] Handler layer(const Middleware& m) &&;
  [[nodiscard]] Handler layer(const Middleware& m) const&;
  /// This handler with its route's body limit (RouteLimits::max_body_bytes).
  [[nodiscard]] Handler max_body_bytes(std::size_t n) && {
    limits_.max_body_bytes = n;
    return std::move(*this);
  }
  /// This handler with a deadline (RouteLimits::deadline).
  [[nodiscard]] Handler deadline(std::chrono::nanoseconds d) && {
    limits_.deadline = d;
    return std::move(*this);
  }
  [[nodiscard]] const RouteLimits& limits() const noexcept { return limits_; }

 private:
  friend class Middleware;
  CoroutineHandler coro_;
  FiberHandler fiber_;
  RouteLimits limits_;
};

/// The rest of a route's chain, as a middleware sees it: the next layer
/// inward, or the handler. Calling it is optional (a middleware that
/// answers itself, a 401, never does). A pointer: copied freely, valid
/// during the middleware's call.
class DUET_API Next {
 public:
  /// Runs the rest of the chain (coroutine): a coroutine handler's Task
  /// itself; a plain rest is run by the chain's fiber between two polls of
  /// this layer, which is why a chain with a plain part runs on a fiber
  /// (Middleware).
  [[nodiscard]] Task<Response> run(Request& req) const;
  /// The same as a plain call, on the chain's fiber (a coroutine rest is
  /// waited for with duet::wait).
  [[nodiscard]] Response run_now(Request& req) const;

 private:
  friend class Middleware;
  Next(const Handler& h, detail::InlineCall* call) noexcept : h_(&h), call_(call) {}
  const Handler* h_;
  detail::InlineCall* call_;  // where a plain rest is asked for (a chain on a fiber)
};

/// A coroutine middleware.
using CoroutineMiddleware = std::function<Task<Response>(Request&, Next)>;
/// A plain middleware, run on a fiber.
using FiberMiddleware = std::function<Response(Request&, Next)>;

/// A layer around routes (axum's Router::layer, Go's
/// func(http.Handler) http.Handler): it gets the request and the rest of
/// the chain (Next), may call it or answer itself, and may edit the
/// request before and the response after. Written as a coroutine
/// (`Task<Response>(Request&, Next)`) or as a plain function
/// (`Response(Request&, Next)`), either wraps handlers of either model:
/// - a chain whose layers and handler are all coroutines stays a coroutine
///   handler (each coroutine layer costs its own frame);
/// - any plain layer or a plain handler makes the chain a plain handler,
///   run on a fiber as any plain handler is: a coroutine layer there is
///   polled by that fiber, which runs a plain rest the layer awaits
///   between two polls (never inside one).
/// Applying a layer allocates once (the wrapped chain); a request through
/// a plain layer allocates nothing of its own.
/// (Example: the header's comment.)
class DUET_API Middleware {
 public:
  template <class F>
  requires std::is_invocable_r_v<Task<Response>, F&, Request&, Next> Middleware(F f)
      : coro_(std::move(f)) {}  // NOLINT: implicit, as std::function
  template <class F>
  requires(std::is_invocable_r_v<Response, F&, Request&, Next> &&
           !std::is_invocable_r_v<Task<Response>, F&, Request&, Next>) Middleware(F f)
      : plain_(std::move(f)) {}  // NOLINT: implicit, as std::function

  /// `inner` wrapped: the result keeps inner's RouteLimits.
  [[nodiscard]] Handler wrap(Handler inner) const;

 private:
  CoroutineMiddleware coro_;
  FiberMiddleware plain_;
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
  /// Wraps every route added so far in `m` (outside their own layers);
  /// routes added later are not wrapped (axum's order: call it last). A
  /// request the router refuses itself (404, 405, 501, 400) meets no layer.
  Router& layer(const Middleware& m);
  /// The largest RouteLimits::max_body_bytes of any route (0: none); the
  /// server's decoder admits bodies up to it, and each route checks its own.
  [[nodiscard]] std::size_t max_route_body_bytes() const noexcept { return max_route_body_; }

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
  std::size_t max_route_body_ = 0;     // the largest RouteLimits::max_body_bytes
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

/// HTTP/2 on the server's listeners (docs/http.md, "HTTP/2"): h2c with
/// prior knowledge on a plain listener (a client that opens with the
/// HTTP/2 preface), h2 on a TLS one whose handshake's ALPN picks "h2" (the
/// TlsContext offers it when its tls::ServerConfig::alpn lists "h2"
/// before "http/1.1"). Every stream runs the Router's handlers as an
/// HTTP/1.1 request does, each in a task of its own. Request header limits
/// and io_timeout come from Limits (max_header_bytes bounds the decoded
/// header list, SETTINGS_MAX_HEADER_LIST_SIZE).
struct Http2Limits {
  /// Off: an HTTP/2 preface is answered as HTTP/1.1 answers it (505, for
  /// its version), and a TLS connection whose ALPN chose "h2" is served
  /// as HTTP/1.1 (so leave "h2" out of the TlsContext's list then).
  bool enabled = true;
  /// SETTINGS_MAX_CONCURRENT_STREAMS: a stream past it is refused
  /// (RST_STREAM REFUSED_STREAM), and so bounds the handlers one
  /// connection runs at once.
  std::uint32_t max_concurrent_streams = 100;
  /// SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on one stream
  /// before the server has read it (it reads a body whole, up to the
  /// route's max_body_bytes, reopening the window as it goes).
  std::uint32_t stream_window_bytes = 65'535;
  /// The connection's receive window, over all its streams.
  std::uint32_t connection_window_bytes = 1u << 20;
  /// Stream resets a client may cause (rapid reset, CVE-2023-44487): a
  /// token bucket of `reset_burst` tokens refilled at `resets_per_second`;
  /// one more ends the connection with GOAWAY.
  std::uint32_t reset_burst = 1000;
  std::uint32_t resets_per_second = 33;
};

struct ServerConfig {
  Engine engine = Engine::coroutine;
  Limits limits{};
  /// Connections open at once; one accepted past it is closed at once.
  std::size_t max_connections = 100'000;
  /// Requests a connection answers before it closes (the last is answered
  /// with "Connection: close"); 0: no limit.
  std::size_t max_requests_per_connection = 0;
  Hooks hooks{};
  Http2Limits http2{};
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

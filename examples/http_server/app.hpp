// app.hpp: the http_server example on duet::http (docs/http_server.md):
// its options, and its routes written once per model: routes_coroutine.cpp
// as coroutines, routes_fiber.cpp as plain functions run on fibers. Both
// serve the same paths with the same answers:
//
//   GET /plaintext      "Hello, World!" (TechEmpower's plaintext)
//   GET /json           {"message":"Hello, World!"} (TechEmpower's json)
//   ANY /proxy/<path>   forwarded to the upstream's /<path> through the
//                       pooled client; its status and body come back
//                       (502 when the upstream fails, 504 past its deadline);
//                       both bodies streamed: the request's to the upstream
//                       as it arrives, the upstream's back as it comes
//                       (Content-Length kept, else chunked)
//   GET /fanout?n=4     n (1..64) requests for the upstream's /json at
//                       once under one deadline, merged as
//                       {"results":[...]} (504 when the deadline passes)
//   POST /echo          the request's body back (a streamed one read
//                       whole first, up to --max-body-bytes)
//   GET /delay?ms=N     "Hello, World!" after N ms (0..600000) of waiting
//                       (a timer): a request parked in its handler, as
//                       the lab's parked HTTP/2 streams are
//   GET /users/{id}/posts/{post}
//                       with --route-params: "Hello, World!" once both
//                       path parameters are read (id as a number: 404
//                       when it is not one); the lab's routed load
//
// Every route is served over HTTP/1.1 and HTTP/2 (h2c with prior
// knowledge on the plain port; h2 by ALPN on the TLS one, which offers
// "h2" then "http/1.1").
//
// With --middleware every route is wrapped in one layer of the handlers'
// model (Router::layer), which copies the request's X-Request-Id (or
// "-") onto the answer: the lab measures the routed route with it against
// the bare /plaintext without (experiments/http/http_bench.py,
// routing_pass).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <duet/duet.hpp>
#include <duet/http.hpp>
#include <duet/io.hpp>
#include <duet/tls.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace http_server {

/// The handlers' model (the engine runs either: a handler of the other
/// model costs a spawn per request, docs/http.md).
enum class Handlers : std::uint8_t { coroutine, fiber };

struct Options {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (printed when ready)
  duet::http::Engine engine = duet::http::Engine::coroutine;
  /// Default: the engine's own model (coroutine handlers under the poll
  /// engine, which polls them in place).
  std::optional<Handlers> handlers;
  unsigned workers = 1;
  bool reuseport = false;
  /// HTTPS: a second listener when tls_port is set (0: any free port).
  std::optional<std::uint16_t> tls_port;
  std::string cert_file, key_file;
  /// The upstream of /proxy and /fanout ("127.0.0.1:9000"); unset: both
  /// answer 503.
  std::optional<duet::net::SocketAddr> upstream;
  std::chrono::milliseconds upstream_timeout{5'000};  // each upstream request
  std::chrono::milliseconds fanout_deadline{1'000};   // a whole fan-out
  duet::http::Limits limits;
  std::size_t max_connections = 100'000;
  std::size_t max_requests_per_connection = 0;
  std::chrono::milliseconds drain{5'000};  // SIGTERM: how long requests may finish
  bool route_params = false;               // GET /users/{id}/posts/{post}
  bool middleware = false;                 // every route in one layer
};

/// /delay's wait: its `ms` query (0..600000, else 0).
std::chrono::milliseconds delay_of(const duet::http::Request& req);

/// What the routes share: the options and the pooled client.
struct App {
  explicit App(const Options& o);
  const Options& options;
  duet::http::Client upstream;
};

inline constexpr std::string_view kHello = "Hello, World!";
inline constexpr std::size_t kMaxFanout = 64;

/// {"message":"Hello, World!"}, serialized per request as TechEmpower asks.
std::string json_message(std::string_view message);
/// The upstream's path for a /proxy/<path> target ("/proxy/a?b" -> "/a?b").
std::string proxied_target(std::string_view target);
/// The response a proxy gives back for the upstream's `r` (hop-by-hop
/// fields dropped).
duet::http::Response relay(duet::http::Response&& r);
/// The upstream request of /proxy/<path> for `req`: method, target and
/// Content-Type kept; its body `req`'s, whole, or (when `req`'s is
/// streamed) a source reading it from `req` as the client sends it (with
/// its Content-Length, else chunked). The source reads `req`'s body: the
/// upstream request is sent within the handler's turn.
duet::http::Request proxied_request(duet::http::Request& req);
/// The proxy's answer from the upstream's response stream: its status and
/// fields (relay's), its body a source reading `s` piece by piece (with
/// the upstream's Content-Length, else chunked).
duet::http::Response relay_stream(duet::http::ResponseStream&& s);
/// The answer to a failed upstream request: 504 for a timeout, else 502.
duet::http::Response upstream_failed(std::error_code e);
/// n of /fanout?n=: 1..kMaxFanout, 4 when absent; nullopt when malformed.
std::optional<std::size_t> fanout_count(const duet::http::Request& req);
/// A fan-out's answer from its upstream results, in request order:
/// {"results":[b1,b2,...]} when every one is a 200; else the first
/// failure's answer (upstream_failed), or 502 naming a status not 200.
duet::http::Response merged(std::vector<duet::Result<duet::http::Response>>& results);

/// The value of the X-Request-Id field --middleware's layer sets: the
/// request's own, else "-".
std::string_view request_id(const duet::http::Request& req);

duet::http::Router coroutine_routes(App& app);
duet::http::Router fiber_routes(App& app);

/// The program: serves until SIGTERM or SIGINT, then drains (up to
/// Options::drain) and returns 0. Prints "listening on PORT" (and
/// "listening on PORT (tls)") once ready; SIGUSR1 prints a memory line.
int run(const Options& o);

}  // namespace http_server

// routes_fiber.cpp: the example's routes as plain functions, each run on a
// fiber (app.hpp lists them): a wait is a plain call (the client's send_now,
// duet::wait). The same routes as coroutines are routes_coroutine.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app.hpp"

namespace http_server {
namespace {

using duet::http::Method;
using duet::http::Request;
using duet::http::Response;

Response plaintext(Request&) {
  return Response::text(200, std::string(kHello));
}

Response delay(Request& req) {
  duet::wait(duet::sleep(delay_of(req)));
  return Response::text(200, std::string(kHello));
}

Response json(Request&) {
  return Response::json(200, json_message(kHello));
}

Response echo(App& app, Request& req) {
  // A body past the server's buffered_body_bytes is streamed: read it whole.
  auto whole = duet::http::read_whole_body_now(req, app.options.limits.max_body_bytes);
  if (!whole) return Response::text(400, whole.error().message());
  return Response::text(200, std::move(req.body));
}

/// /proxy/<path>: the request, body and method kept, to the upstream; both
/// bodies streamed (the request's read from the client as the upstream
/// request is sent, the upstream's written back as it arrives, after this
/// handler returns).
Response proxy(App& app, Request& req) {
  const auto& o = app.options;
  if (!o.upstream) return Response::text(503, "no upstream");
  // Within ClientConfig::request_timeout, to the upstream body's last byte.
  auto s = app.upstream.open_now(*o.upstream, proxied_request(req));
  if (!s) return upstream_failed(s.error());
  return relay_stream(std::move(*s));
}

/// /fanout?n=4: n upstream requests at once, each on a fiber of its own,
/// one deadline over them all; at the deadline the scope's end cancels the
/// ones still waiting (their fibers unwind).
Response fanout(App& app, Request& req) {
  const auto& o = app.options;
  if (!o.upstream) return Response::text(503, "no upstream");
  const auto n = fanout_count(req);
  if (!n) return Response::text(400, "n must be 1 to 64");
  duet::TaskScope<duet::Result<Response>> calls;
  for (std::size_t i = 0; i < *n; ++i) {
    calls.spawn(duet::stackful, [&app] {
      return app.upstream.send_now(*app.options.upstream, Request::make(Method::get, "/json"));
    });
  }
  auto all = duet::wait(duet::timeout(o.fanout_deadline, calls.join()));
  if (!all) return Response::text(504, "fan-out deadline passed");
  return merged(*all);
}

/// /users/{id}/posts/{post} (--route-params): both parameters read, the
/// plaintext answer.
Response user_post(Request& req) {
  const std::optional<std::uint64_t> id = req.param<std::uint64_t>("id");
  if (!id || req.param("post").empty()) return Response::empty(404);
  return Response::text(200, std::string(kHello));
}

/// --middleware's layer: the request's id onto the answer.
duet::http::Middleware request_id_layer() {
  return [](Request& req, duet::http::Next next) {
    Response res = next.run_now(req);
    res.headers.set("X-Request-Id", request_id(req));
    return res;
  };
}

}  // namespace

duet::http::Router fiber_routes(App& app) {
  duet::http::Router routes;
  routes.get("/plaintext", plaintext);
  routes.get("/json", json);
  routes.get("/delay", delay);
  routes.post("/echo", [&app](Request& req) { return echo(app, req); });
  for (Method m : {Method::get, Method::post, Method::put, Method::delete_}) {
    routes.prefix(m, "/proxy/", [&app](Request& req) { return proxy(app, req); });
  }
  routes.get("/fanout", [&app](Request& req) { return fanout(app, req); });
  if (app.options.route_params) routes.get("/users/{id}/posts/{post}", user_post);
  if (app.options.middleware) routes.layer(request_id_layer());
  return routes;
}

}  // namespace http_server

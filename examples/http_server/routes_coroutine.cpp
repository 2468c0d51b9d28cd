// routes_coroutine.cpp: the example's routes as coroutines (app.hpp lists
// them): each handler a Task<Response>, co_await at each wait. The same
// routes as plain functions on fibers are routes_fiber.cpp.
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

duet::Task<Response> plaintext(Request&) {
  co_return Response::text(200, std::string(kHello));
}

duet::Task<Response> delay(Request& req) {
  co_await duet::sleep(delay_of(req));
  co_return Response::text(200, std::string(kHello));
}

duet::Task<Response> json(Request&) {
  co_return Response::json(200, json_message(kHello));
}

duet::Task<Response> echo(App& app, Request& req) {
  // A body past the server's buffered_body_bytes is streamed: read it whole.
  auto whole = co_await duet::http::read_whole_body(req, app.options.limits.max_body_bytes);
  if (!whole) co_return Response::text(400, whole.error().message());
  co_return Response::text(200, std::move(req.body));
}

/// /proxy/<path>: the request, body and method kept, to the upstream; both
/// bodies streamed (the request's read from the client as the upstream
/// request is sent, the upstream's written back as it arrives, after this
/// handler returns).
duet::Task<Response> proxy(App& app, Request& req) {
  const auto& o = app.options;
  if (!o.upstream) co_return Response::text(503, "no upstream");
  // Within request_timeout, to the upstream body's last byte.
  auto s = co_await app.upstream.open(*o.upstream, proxied_request(req));
  if (!s) co_return upstream_failed(s.error());
  co_return relay_stream(std::move(*s));
}

/// /fanout?n=4: n upstream requests at once, one deadline over them all;
/// at the deadline the scope's end cancels the ones still waiting.
duet::Task<Response> fanout(App& app, Request& req) {
  const auto& o = app.options;
  if (!o.upstream) co_return Response::text(503, "no upstream");
  const auto n = fanout_count(req);
  if (!n) co_return Response::text(400, "n must be 1 to 64");
  duet::TaskScope<duet::Result<Response>> calls;
  for (std::size_t i = 0; i < *n; ++i) {
    calls.spawn(app.upstream.send(*o.upstream, Request::make(Method::get, "/json")));
  }
  auto all = co_await duet::timeout(o.fanout_deadline, calls.join());
  if (!all) co_return Response::text(504, "fan-out deadline passed");
  co_return merged(*all);
}

/// /users/{id}/posts/{post} (--route-params): both parameters read, the
/// plaintext answer.
duet::Task<Response> user_post(Request& req) {
  const std::optional<std::uint64_t> id = req.param<std::uint64_t>("id");
  if (!id || req.param("post").empty()) co_return Response::empty(404);
  co_return Response::text(200, std::string(kHello));
}

/// --middleware's layer: the request's id onto the answer.
duet::http::Middleware request_id_layer() {
  return [](Request& req, duet::http::Next next) -> duet::Task<Response> {
    Response res = co_await next.run(req);
    res.headers.set("X-Request-Id", request_id(req));
    co_return res;
  };
}

}  // namespace

duet::http::Router coroutine_routes(App& app) {
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

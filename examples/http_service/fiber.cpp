// fiber.cpp: the http_service example's handlers as plain functions, each
// run on a fiber (service.hpp lists the routes): a wait is a plain call
// (read_whole_body_now, read_body_piece_now, a JoinHandle's join()) or
// duet::wait on a future where a deadline bounds it (the client's request
// under duet::timeout: the plain fetch has no future to bound). The same
// service as coroutines is coroutine.cpp.
#include <string>
#include <utility>
#include <vector>

#include "service.hpp"

namespace http_service {
namespace {

using namespace duet::http;  // Request, Response, Next, json_quote, the body reads

// handlers: begin
Middleware request_log(Service& s) {
  return [&s](Request& req, Next next) {
    const std::string id(req.headers.get("X-Request-Id").value_or(s.next_request_id()));
    Response res = next.run_now(req);
    res.headers.set("X-Request-Id", id);
    s.log(id + " " + req.method_name + " " + req.target + " " + std::to_string(res.status));
    return res;
  };
}

Response get_value(Service& s, Request& req) {
  const std::optional<std::string> v = s.store.get(req.param("key"));
  if (!v) return Response::empty(404);
  const std::string key = json_quote(req.param("key"));
  return Response::json(200, "{\"key\":" + key + ",\"value\":" + json_quote(*v) + "}");
}

Response put_value(Service& s, Request& req) {
  const duet::Result<void> whole = read_whole_body_now(req, kMaxValue);
  if (!whole) return Response::empty(413);
  return Response::empty(s.store.put(req.param("key"), std::move(req.body)) ? 201 : 204);
}

Response delete_value(Service& s, Request& req) {
  return Response::empty(s.store.erase(req.param("key")) ? 204 : 404);
}

Response list_keys(Service& s, Request& req) {
  std::string out;
  for (const std::string& k : s.store.keys(req.query_param<std::string>("prefix").value_or("")))
    out += (out.empty() ? "" : ",") + json_quote(k);
  return Response::json(200, "{\"keys\":[" + out + "]}");
}

Response proxy(Service& s, Request& req) {
  const duet::Result<void> whole = read_whole_body_now(req, kMaxValue);
  if (!whole || s.upstreams.empty()) return Response::empty(whole ? 503 : 413);
  // The target as sent after /proxy (its escapes and query kept), method and body.
  Request up = Request::make(req.method, req.target.substr(kProxy.size()), std::move(req.body));
  auto r = duet::wait(duet::timeout(s.proxy_timeout, s.client.send(s.upstreams[0], up)));
  if (r) return std::move(*r);
  return Response::empty(r.error() == std::errc::timed_out ? 504 : 502);
}

Response upload(Request& req) {
  for (std::size_t bytes = 0;;) {
    duet::Result<std::string> piece = read_body_piece_now(req);  // as it came: no copy
    if (!piece) return Response::empty(piece.error() == std::errc::message_size ? 413 : 400);
    if (piece->empty()) return Response::json(200, "{\"bytes\":" + std::to_string(bytes) + "}");
    bytes += piece->size();
  }
}

Response fanout(Service& s, Request&) {
  const duet::Instant deadline = duet::deadline_after(s.fanout_deadline);
  const Request each = Request::make(Method::get, s.fanout_path);
  std::vector<duet::JoinHandle<duet::Result<Response>>> calls;  // all at once
  for (const auto& up : s.upstreams)
    calls.push_back(duet::spawn(duet::timeout_at(deadline, s.client.send(up, each))));
  std::string out;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const duet::Result<Response> r = calls[i].join();
    out += (i ? ",{\"upstream\":" : "{\"upstream\":") + json_quote(s.upstreams[i].to_string());
    out += r ? ",\"status\":" + std::to_string(r->status) + ",\"body\":" + json_quote(r->body) + "}"
             : ",\"error\":" + json_quote(r.error().message()) + "}";
  }
  return Response::json(200, "{\"results\":[" + out + "]}");
}
// handlers: end

}  // namespace

Router fiber_service(Service& s) {
  Router r;
  r.get("/kv/{key}", [&s](Request& req) { return get_value(s, req); });
  r.put("/kv/{key}", [&s](Request& req) { return put_value(s, req); });
  r.delete_("/kv/{key}", [&s](Request& req) { return delete_value(s, req); });
  r.get("/kv", [&s](Request& req) { return list_keys(s, req); });
  for (Method m : {Method::get, Method::post, Method::put, Method::delete_}) {
    r.route(m, "/proxy/{*path}", [&s](Request& req) { return proxy(s, req); });
  }
  r.post("/upload", Handler(upload).max_body_bytes(s.upload_limit));
  r.get("/fanout", [&s](Request& req) { return fanout(s, req); });
  r.layer(request_log(s));
  return r;
}

}  // namespace http_service

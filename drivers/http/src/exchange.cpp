// exchange.cpp: the request-level steps every engine takes the same way
// (server_state.hpp): an answer appended to the connection's output, the
// hooks called and the requests counted, the refusals, and whether the
// connection closes after a request.
#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "duet/http/body.hpp"
#include "server_state.hpp"

namespace duet::http::detail {

namespace {

/// Counts one answered request (relaxed: a statistic read on its own).
void count(State& st) noexcept {
  st.requests.fetch_add(1, std::memory_order_relaxed);
}

/// Calls the hook, if any, for `req` answered with `status`.
void report(const State& st, const Request& req, int status, std::size_t body_bytes,
            Instant started) {
  if (!st.options.hooks.on_response) return;
  const AccessEntry e{
      .request = req,
      .status = status,
      .body_bytes = body_bytes,
      .elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started)};
  st.options.hooks.on_response(e);
}

}  // namespace

void answered(State& st, const Request& req, int status, std::size_t body_bytes, Instant started) {
  count(st);
  report(st, req, status, body_bytes, started);
}

Response refusal(int status, std::string_view allow) {
  std::string body(reason(status));
  body += '\n';
  Response res = Response::text(status, std::move(body));
  if (!allow.empty()) res.headers.set("Allow", allow);
  return res;
}

void answer(State& st, const Request& req, Response&& res, std::string& out, bool close,
            Instant started) {
  Answering a = Answering::to(req);
  a.close = a.close || close;
  write_response(out, res, a);
  std::size_t bytes = res.body.size();
  if (res.source) bytes = res.source->length.value_or(0);  // a body from a source
  answered(st, req, res.status, a.head ? 0 : bytes, started);
}

void answer_error(State& st, int status, std::string& out, bool close, std::string_view allow) {
  write_error(out, status, !close, allow);
  count(st);
}

void answer_error(State& st, const Request& req, int status, std::string& out, bool close,
                  std::string_view allow, Instant started) {
  // As a response to `req` (not write_error's fixed form), so that a HEAD
  // gets no body and an HTTP/1.0 request its own version and keep-alive.
  answer(st, req, refusal(status, allow), out, close, started);
}

Response handler_failed() {
  return Response::text(500, "Internal Server Error\n");
}

bool closes_after(const State& st, const Request& req, std::size_t served,
                  const RequestDecoder& dec) noexcept {
  if (dec.closing()) return true;
  const std::size_t cap = st.options.max_requests_per_connection;
  return !req.keep_alive() || (cap != 0 && served >= cap) || st.shutdown.is_cancelled();
}

}  // namespace duet::http::detail

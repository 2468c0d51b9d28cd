// client_errors_test.cpp: duet::http::Client when things go wrong: an
// upstream that closes an idle pooled connection (a GET is sent again on a
// new connection; a POST is not, and reports the error), a refused
// connection, the request deadline against an upstream that never answers
// (on the manual test clock), a send dropped by a timeout around it (its
// connection closed, never pooled or reused), a malformed response and
// over-limit bodies (bad_message). io_uring and epoll, both faces.
#include <thread>

#include "upstream.hpp"

namespace duet::httpclienttest {
namespace {

/// Every answer closes its connection afterwards without saying so: the
/// client pools it, and finds it closed when it next uses it.
duet::Task<void> idle_closed(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto a = co_await get(m, c, up.addr(), "/first");
  HC_ENSURE_OK(f, a, 200, "/first");
  HC_EXPECT(f, c.stats().idle == 1);
  co_await until(up.server_closes, 1);
  // GET: the pooled connection fails before any response byte; sent again
  // on a new one.
  auto b = co_await get(m, c, up.addr(), "/second");
  HC_ENSURE_OK(f, b, 200, "/second");
  auto st = c.stats();
  HC_EXPECT(f, st.connects == 2);
  HC_EXPECT(f, st.reused == 1);
  HC_EXPECT(f, st.idle == 1);
  co_await until(up.server_closes, 2);
  // POST: not idempotent, so not sent again: the error is the caller's.
  auto p = co_await call(m, c, up.addr(), Request::make(Method::post, "/post", "once"));
  HC_EXPECT(f, !p);
  if (p) co_return;
  HC_EXPECT(f, p.error() == std::errc::connection_reset || p.error() == std::errc::broken_pipe);
  st = c.stats();
  HC_EXPECT(f, st.connects == 2);
  HC_EXPECT(f, st.reused == 2);
  HC_EXPECT(f, st.idle == 0);
  HC_EXPECT(f, up.requests.load() == 2);
  HC_EXPECT(f, up.accepted.load() == 2);
}

duet::Task<void> refused(Model m, Client& c, SocketAddr closed, Failures& f) {
  auto r = co_await get(m, c, closed, "/");
  HC_EXPECT(f, !r);
  if (r) co_return;
  HC_EXPECT(f, r.error() == std::errc::connection_refused);
  HC_EXPECT(f, c.stats().connects == 0);
  HC_EXPECT(f, c.stats().idle == 0);
}

/// The first request is answered (its connection pooled), the second hangs
/// on the pooled connection until a timeout around the call drops it, the
/// third must not reuse the half-used connection.
duet::Task<void> dropped(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto a = co_await get(m, c, up.addr(), "/first");
  HC_ENSURE_OK(f, a, 200, "/first");
  HC_EXPECT(f, c.stats().idle == 1);
  const auto req = Request::make(Method::get, "/hang");
  Outcome t = std::errc::operation_in_progress;
  if (m == Model::stackless) {
    // The send Task is destroyed where it waits (its read).
    t = co_await duet::timeout(std::chrono::milliseconds(50), c.send(up.addr(), req));
  } else {
    // The fiber is cancelled where it waits: send_now's frames unwind.
    auto h = duet::spawn(duet::stackful, [&c, a = up.addr(), req] {
               return c.send_now(a, req);
             }).cancel_on_drop();
    t = co_await duet::timeout(std::chrono::milliseconds(50), std::move(h));
  }
  HC_EXPECT(f, !t && duet::is_elapsed(t.error()));
  // The dropped request's connection was closed, not given back: the
  // upstream sees its end.
  co_await until(up.client_closes, 1);
  auto st = c.stats();
  HC_EXPECT(f, st.idle == 0);
  HC_EXPECT(f, st.connects == 1);
  HC_EXPECT(f, st.reused == 1);
  auto b = co_await get(m, c, up.addr(), "/third");
  HC_ENSURE_OK(f, b, 200, "/third");
  st = c.stats();
  HC_EXPECT(f, st.connects == 2);  // a new connection, not the half-used one
  HC_EXPECT(f, st.reused == 1);
  HC_EXPECT(f, st.idle == 1);
}

/// Answers the upstream gives for the bad-response cases, by target.
Reply bad_script(const Seen& s, int) {
  const std::string t = target_of(s.head);
  if (t == "/garbage") return {"this is not HTTP at all\r\n\r\n"};
  if (t == "/bad-length") return {"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\nhello"};
  if (t == "/big") return {ok(std::string(4096, 'x'))};
  if (t == "/limit") return {ok(std::string(1024, 'y'))};
  if (t == "/big-chunked") {
    std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 4; ++i) r += "200\r\n" + std::string(512, 'z') + "\r\n";
    return {r + "0\r\n\r\n"};
  }
  if (t == "/big-head") {
    return {"HTTP/1.1 200 OK\r\nX-Long: " + std::string(4096, 'h') +
            "\r\nContent-Length: 0\r\n\r\n"};
  }
  return {ok(t)};
}

duet::Task<void> bad_responses(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  for (const char* t : {"/garbage", "/bad-length", "/big", "/big-chunked", "/big-head"}) {
    auto r = co_await get(m, c, up.addr(), t);
    if (r || r.error() != std::errc::bad_message) {
      f.note(std::string(t) + ": " + describe(r) + ", wanted bad_message");
    }
    if (c.stats().idle != 0) f.note(std::string(t) + ": its connection was pooled");
  }
  // A body at the limit is whole; the connection is pooled again.
  auto ok_at_limit = co_await get(m, c, up.addr(), "/limit");
  HC_ENSURE_OK(f, ok_at_limit, 200, std::string(1024, 'y'));
  HC_EXPECT(f, c.stats().idle == 1);
  HC_EXPECT(f, c.stats().connects == 6);  // each refused response closed its connection
}

}  // namespace
}  // namespace duet::httpclienttest

using namespace duet::httpclienttest;  // NOLINT: test file

TEST_CASE("client: an idle connection closed upstream: GET is retried and POST is not",
          "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client idle closed");
  run_scenario(
      drv, model,
      [](const Seen& s, int) {
        return Reply{ok(target_of(s.head)), true};
      },
      idle_closed);
}

TEST_CASE("client: connection refused", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client refused");
  SocketAddr closed;
  {
    auto l = duet::net::TcpListener::bind(SocketAddr::v4_loopback(0));
    REQUIRE(l);
    auto a = l->local_addr();
    REQUIRE(a);
    closed = *a;
  }  // bound, then closed: nothing listens there
  auto rt = duet::iotest::make_rt(drv);
  Failures f;
  {
    Client client;
    rt->block_on(refused(model, client, closed, f));
  }
  f.report();
}

TEST_CASE("client: request deadline against an upstream that never answers", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client request timeout");
  Upstream up([](const Seen&, int) { return Reply{"", false, true}; });
  // The manual clock: an hour's deadline passes when the test says so,
  // once the request is at the upstream.
  auto rt = duet::iotest::make_rt(drv, 2, duet::ClockMode::manual);
  auto acc = up.start(*rt);
  {
    ClientConfig o;
    o.request_timeout = std::chrono::hours(1);
    o.connect_timeout = std::chrono::hours(1);
    Client c(o);
    auto h = rt->spawn(get(model, c, up.addr(), "/never"));
    wait_until(up.requests, 1);
    CHECK_FALSE(h.is_finished());
    rt->advance(std::chrono::hours(1));
    auto r = h.join();
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::timed_out);
    CHECK(c.stats().idle == 0);
    CHECK(c.stats().connects == 1);
    wait_until(up.client_closes, 1);  // the connection was closed
  }
}

TEST_CASE("client: a send dropped by a timeout never returns its connection", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client dropped");
  run_scenario(
      drv, model,
      [](const Seen& s, int) {
        if (target_of(s.head) == "/hang") return Reply{"", false, true};
        return Reply{ok(target_of(s.head))};
      },
      dropped);
}

TEST_CASE("client: malformed and over-limit responses are bad_message", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client bad responses");
  ClientConfig o;
  o.limits.max_body_bytes = 1024;
  o.limits.max_header_bytes = 2048;
  run_scenario(drv, model, bad_script, bad_responses, o);
}

// client_limits_test.cpp: a request's own limits and the client's policies
// over them: a per-request deadline (SendConfig::timeout) over the
// client's request_timeout, on the manual test clock, by address and by
// URL; the cap on connections per origin (max_connections_per_origin: a
// request past it waits for one to come back or close, within its
// deadline); and the opt-in redirect policy (301/302/303 turn into a GET
// without a body, 307/308 keep the method and body, a cross-origin hop
// drops Authorization, a limit ends a loop). io_uring and epoll, both
// faces (`send` awaited by a coroutine, `send_now` on a fiber).
#include "upstream.hpp"

namespace duet::httpclienttest {
namespace {

using duet::http::ClientErrc;
using duet::http::SendConfig;
using namespace std::chrono_literals;

// ---- the per-request deadline -------------------------------------------------

TEST_CASE("client: a request's own timeout overrides request_timeout, ending in elapsed",
          "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client request's timeout");
  const bool by_url = GENERATE(false, true);
  INFO((by_url ? "by URL" : "by address"));
  Upstream up([](const Seen&, int) { return Reply{"", false, true}; });
  // The manual clock: the client's hour would never pass; the request's
  // minute passes when the test says so, once the request is upstream.
  auto rt = duet::iotest::make_rt(drv, 2, duet::ClockMode::manual);
  auto acc = up.start(*rt);
  {
    ClientConfig o;
    o.request_timeout = std::chrono::hours(1);
    o.connect_timeout = std::chrono::hours(1);
    Client c(o);
    const SendConfig one_minute{.timeout = std::chrono::minutes(1)};
    auto h = by_url ? rt->spawn(call(model, c, "http://" + up.addr().to_string() + "/never",
                                     Request::make(Method::get, "/"), one_minute))
                    : rt->spawn(call(model, c, up.addr(), Request::make(Method::get, "/never"),
                                     one_minute));
    wait_until(up.requests, 1);
    CHECK_FALSE(h.is_finished());
    rt->advance(std::chrono::minutes(1));
    auto r = h.join();
    REQUIRE_FALSE(r);
    CHECK(duet::is_elapsed(r.error()));
    CHECK(c.stats().idle == 0);
    wait_until(up.client_closes, 1);  // the connection was closed
  }
}

TEST_CASE("client: open and open_now keep the request's own timeout to the body's end",
          "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client open's timeout");
  Upstream up([](const Seen&, int) { return Reply{"", false, true}; });
  auto rt = duet::iotest::make_rt(drv, 2, duet::ClockMode::manual);
  auto acc = up.start(*rt);
  {
    ClientConfig o;
    o.request_timeout = std::chrono::hours(1);
    o.connect_timeout = std::chrono::hours(1);
    Client c(o);
    const SendConfig one_minute{.timeout = std::chrono::minutes(1)};
    auto h = rt->spawn([](Model m, Client* c, SocketAddr a, SendConfig t) -> duet::Task<bool> {
      if (m == Model::stackless) {
        auto s = co_await c->open(a, Request::make(Method::get, "/never"), t);
        co_return !s && duet::is_elapsed(s.error());
      }
      auto j = duet::spawn(duet::stackful, [c, a, t] {
        auto s = c->open_now(a, Request::make(Method::get, "/never"), t);
        return !s && duet::is_elapsed(s.error());
      });
      co_return co_await std::move(j);
    }(model, &c, up.addr(), one_minute));
    wait_until(up.requests, 1);
    rt->advance(std::chrono::minutes(1));
    CHECK(h.join());
  }
}

// ---- the cap per origin ----------------------------------------------------------

/// What a capped scenario observed, on the test's thread.
struct CapSeen {
  std::string first, second, late;
  duet::http::ClientStats stats;
};

/// With a cap of one: the first request is held at the upstream (its
/// connection busy); the second must wait, and is seen waiting; a third
/// with a short deadline gives up waiting (elapsed) without connecting;
/// the first is let go, and the second takes its connection (or, when the
/// upstream closed it, connects in its place).
duet::Task<void> capped(Model m, Client& c, Upstream& up, std::atomic<int>& gate, CapSeen& seen,
                        std::string first_target) {
  auto acc = up.start();
  auto first = duet::spawn(call(m, c, up.addr(), Request::make(Method::get, first_target)));
  co_await until(up.requests, 1);
  auto second = duet::spawn(get(m, c, up.addr(), "/second"));
  while (c.stats().waited < 1) co_await duet::sleep(1ms);
  auto late = co_await call(m, c, up.addr(), Request::make(Method::get, "/late"),
                            SendConfig{.timeout = 20ms});
  seen.late = late ? "a response" : late.error().message();
  if (!late && duet::is_elapsed(late.error())) seen.late = "elapsed";
  gate.store(1);
  auto a = co_await std::move(first);
  auto b = co_await std::move(second);
  seen.first = describe(a);
  seen.second = describe(b);
  seen.stats = c.stats();
}

TEST_CASE("client: max_connections_per_origin: a request past it waits for a connection",
          "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client cap");
  const bool closes = GENERATE(false, true);
  INFO((closes ? "the held connection closes" : "the held connection comes back"));
  std::atomic<int> gate{0};
  Upstream up([&gate](const Seen& s, int) {
    const std::string t = target_of(s.head);
    if (t == "/held") return Reply{ok(t), false, false, &gate};
    if (t == "/held-close") return Reply{ok(t), true, false, &gate};
    return Reply{ok(t)};
  });
  auto rt = duet::iotest::make_rt(drv);
  CapSeen seen;
  {
    ClientConfig o;
    o.max_connections_per_origin = 1;
    Client c(o);
    rt->block_on(capped(model, c, up, gate, seen, closes ? "/held-close" : "/held"));
  }
  const std::string held = closes ? "/held-close" : "/held";
  CHECK(seen.first == "status 200, body '" + held + "'");
  CHECK(seen.second == "status 200, body '/second'");
  CHECK(seen.late == "elapsed");
  CHECK(seen.stats.waited >= 2);  // the second and the late one
  // Never two connections at once: the late request never connected, the
  // second took the first's connection, or its place once it closed.
  CHECK(seen.stats.connects == (closes ? 2u : 1u));
  CHECK(seen.stats.reused ==
        1);  // the second took the first's connection (when closed, it retried)
  CHECK(up.accepted.load() == (closes ? 2 : 1));
  const auto requests = up.seen();
  CHECK(std::none_of(requests.begin(), requests.end(),
                     [](const Seen& s) { return target_of(s.head) == "/late"; }));
}

// ---- redirects ----------------------------------------------------------------

/// The upstream's answers: redirects by target, and /dest saying what it got.
Reply redirects(const Seen& s, const std::string& other_origin) {
  const std::string t = target_of(s.head);
  const auto moved = [](int status, const std::string& to) {
    return Reply{"HTTP/1.1 " + std::to_string(status) + " Moved\r\nLocation: " + to +
                 "\r\nContent-Length: 0\r\n\r\n"};
  };
  if (t == "/r301") return moved(301, "/dest");
  if (t == "/r302") return moved(302, "dest?q=1");  // relative to /r302's folder
  if (t == "/r303") return moved(303, "/dest");
  if (t == "/r307") return moved(307, "/dest");
  if (t == "/r308") return moved(308, "/dest");
  if (t == "/loop") return moved(302, "/loop");
  if (t == "/away") return moved(302, other_origin + "/dest");
  if (t == "/bad") return moved(302, "ftp://example.org/");
  const std::string h = lowered(s.head);
  const std::string m = s.head.substr(0, s.head.find(' '));
  return Reply{ok(m + " " + t + " body=" + s.body +
                  " auth=" + (h.find("\r\nauthorization:") != std::string::npos ? "yes" : "no"))};
}

duet::Task<void> follows(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  const std::string base = "http://127.0.0.1:" + std::to_string(up.addr().port());
  const SendConfig three{.max_redirects = 3};
  const auto post = [] {
    auto r = Request::make(Method::post, "/", "payload");
    r.headers.set("Authorization", "Bearer t");
    return r;
  };
  // Not asked: the redirect is the response.
  auto none = co_await call(m, c, base + "/r301", post());
  HC_EXPECT(f, none && none->status == 301);
  // 301, 302, 303: a GET without the body; the same origin keeps Authorization.
  auto a = co_await call(m, c, base + "/r301", post(), three);
  HC_ENSURE_OK(f, a, 200, "GET /dest body= auth=yes");
  auto b = co_await call(m, c, base + "/r302", post(), three);
  HC_ENSURE_OK(f, b, 200, "GET /dest?q=1 body= auth=yes");
  auto d = co_await call(m, c, base + "/r303", post(), three);
  HC_ENSURE_OK(f, d, 200, "GET /dest body= auth=yes");
  // 307, 308: the method and the body again.
  auto e = co_await call(m, c, base + "/r307", post(), three);
  HC_ENSURE_OK(f, e, 200, "POST /dest body=payload auth=yes");
  auto g = co_await call(m, c, base + "/r308", post(), three);
  HC_ENSURE_OK(f, g, 200, "POST /dest body=payload auth=yes");
  // Another origin (localhost, not 127.0.0.1): Authorization dropped.
  auto away = co_await call(m, c, base + "/away", post(), three);
  HC_ENSURE_OK(f, away, 200, "GET /dest body= auth=no");
  // A loop: the limit ends it (1 request and 3 redirects followed).
  const int before = up.requests.load();
  auto loop = co_await call(m, c, base + "/loop", Request::make(Method::get, "/"), three);
  HC_EXPECT(f, !loop && loop.error() == ClientErrc::too_many_redirects);
  HC_EXPECT(f, up.requests.load() - before == 4);
  // A Location that is no http(s) URL.
  auto bad = co_await call(m, c, base + "/bad", Request::make(Method::get, "/"), three);
  HC_EXPECT(f, !bad && bad.error() == ClientErrc::bad_url);
}

TEST_CASE("client: redirects followed when asked, by the rules of 301 to 308", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client redirects");
  std::string other;  // set before the upstream answers anything
  Upstream up([&other](const Seen& s, int) { return redirects(s, other); });
  other = "http://localhost:" + std::to_string(up.addr().port());
  auto rt = duet::iotest::make_rt(drv);
  Failures f;
  {
    Client c;
    rt->block_on(follows(model, c, up, f));
  }
  f.report();
}

TEST_CASE("client: max_redirects in ClientConfig, and a 307 with a spent body source",
          "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client redirect config");
  Upstream up([](const Seen& s, int) { return redirects(s, ""); });
  auto rt = duet::iotest::make_rt(drv);
  Failures f;
  {
    ClientConfig o;
    o.max_redirects = 1;
    Client c(o);
    rt->block_on([](Model m, Client& c, Upstream& up, Failures& f) -> duet::Task<void> {
      auto acc = up.start();
      const std::string base = "http://" + up.addr().to_string();
      auto a = co_await call(m, c, base + "/r303", Request::make(Method::get, "/"));
      HC_ENSURE_OK(f, a, 200, "GET /dest body= auth=no");
      auto two = co_await call(m, c, base + "/loop", Request::make(Method::get, "/"));
      HC_EXPECT(f, !two && two.error() == ClientErrc::too_many_redirects);
      // A body from a source cannot be sent again: the 307 is the result.
      auto r = Request::make(Method::post, "/");
      r.source = std::make_shared<duet::http::BodySource>();
      r.source->next = [sent = false]() mutable -> duet::Task<duet::Result<std::string>> {
        co_return std::exchange(sent, true) ? std::string() : std::string("streamed");
      };
      auto s = co_await call(m, c, base + "/r307", std::move(r));
      HC_EXPECT(f, s && s->status == 307);
      // The SocketAddr forms never follow.
      auto addr = co_await get(m, c, up.addr(), "/r301");
      HC_EXPECT(f, addr && addr->status == 301);
    }(model, c, up, f));
  }
  f.report();
}

}  // namespace
}  // namespace duet::httpclienttest

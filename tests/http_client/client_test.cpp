// client_test.cpp: duet::http::Client's round trips and keep-alive pool
// against a loopback upstream (upstream.hpp) that answers canned bytes:
// GET and POST, reuse counted by the pool's stats, chunked and
// close-delimited bodies, HEAD and 204 (no body, the connection reused),
// 50 concurrent requests from tasks on 2 workers, send_now on a plain
// thread, and the pool's cap per origin (max_idle_per_origin, and the
// deprecated max_idle_per_host it replaced, when set). Every case but the plain thread's runs on
// io_uring and epoll, in both faces (`send` awaited by a coroutine, `send_now` on a fiber).
#include "upstream.hpp"

namespace duet::httpclienttest {
namespace {

duet::Task<void> round_trip(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto g = co_await get(m, c, up.addr(), "/hello");
  HC_ENSURE_OK(f, g, 200, "/hello");
  HC_EXPECT(f, g->headers.get("Content-Length") == std::optional<std::string_view>("6"));
  auto p = co_await call(m, c, up.addr(), Request::make(Method::post, "/echo", "payload"));
  HC_ENSURE_OK(f, p, 200, "got:payload");
  const auto seen = up.seen();
  HC_EXPECT(f, seen.size() == 2);
  if (seen.size() != 2) co_return;
  HC_EXPECT(f, seen[0].head.rfind("GET /hello HTTP/1.1\r\n", 0) == 0);
  HC_EXPECT(f, lowered(seen[0].head)
                       .find("\r\nhost: 127.0.0.1:" + std::to_string(up.addr().port()) + "\r\n") !=
                   std::string::npos);
  HC_EXPECT(f, seen[1].head.rfind("POST /echo HTTP/1.1\r\n", 0) == 0);
  HC_EXPECT(f, seen[1].body == "payload");
  HC_EXPECT(f, seen[1].conn == 0);  // the POST went on the GET's connection
  const auto st = c.stats();
  HC_EXPECT(f, st.connects == 1);
  HC_EXPECT(f, st.reused == 1);
  HC_EXPECT(f, st.idle == 1);
}

duet::Task<void> keep_alive(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  constexpr int kRequests = 5;
  for (int i = 0; i < kRequests; ++i) {
    auto r = co_await get(m, c, up.addr(), "/n/" + std::to_string(i));
    HC_ENSURE_OK(f, r, 200, "/n/" + std::to_string(i));
  }
  const auto st = c.stats();
  HC_EXPECT(f, st.connects == 1);
  HC_EXPECT(f, st.reused == kRequests - 1);
  HC_EXPECT(f, st.idle == 1);
  HC_EXPECT(f, up.accepted.load() == 1);
  c.clear();
  HC_EXPECT(f, c.stats().idle == 0);
  co_await until(up.client_closes, 1);  // clear() closed the pooled connection
}

duet::Task<void> chunked(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto a = co_await get(m, c, up.addr(), "/chunked");
  HC_ENSURE_OK(f, a, 200, "Wikipedia in chunks.");
  auto b = co_await get(m, c, up.addr(), "/chunked");  // the same connection, framed right
  HC_ENSURE_OK(f, b, 200, "Wikipedia in chunks.");
  const auto st = c.stats();
  HC_EXPECT(f, st.connects == 1);
  HC_EXPECT(f, st.reused == 1);
}

duet::Task<void> close_delimited(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto a = co_await get(m, c, up.addr(), "/a");
  HC_ENSURE_OK(f, a, 200, "until the end /a");
  HC_EXPECT(f, c.stats().idle == 0);  // delimited by the close: never pooled
  auto b = co_await get(m, c, up.addr(), "/b");
  HC_ENSURE_OK(f, b, 200, "until the end /b");
  const auto st = c.stats();
  HC_EXPECT(f, st.connects == 2);
  HC_EXPECT(f, st.reused == 0);
  HC_EXPECT(f, st.idle == 0);
}

duet::Task<void> head_and_204(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto h = co_await call(m, c, up.addr(), Request::make(Method::head, "/head"));
  HC_ENSURE_OK(f, h, 200, "");
  HC_EXPECT(f, h->headers.get("Content-Length") == std::optional<std::string_view>("5"));
  auto n = co_await get(m, c, up.addr(), "/204");
  HC_ENSURE_OK(f, n, 204, "");
  auto g = co_await get(m, c, up.addr(), "/after");
  HC_ENSURE_OK(f, g, 200, "/after");
  const auto st = c.stats();
  HC_EXPECT(f, st.connects == 1);  // neither HEAD's nor 204's answer ended the connection
  HC_EXPECT(f, st.reused == 2);
}

/// A body of `n` bytes that a misplaced or lost piece would change.
std::string large_body(std::size_t n) {
  std::string b(n, '\0');
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return b;
}

/// Bodies larger than a read (and than a socket buffer), both ways.
duet::Task<void> large_bodies(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto g = co_await get(m, c, up.addr(), "/large");
  HC_EXPECT(f, g && g->status == 200 && g->body == large_body(300 * 1024));
  const std::string sent = large_body(200 * 1024 + 17);
  auto p = co_await call(m, c, up.addr(), Request::make(Method::post, "/echo", sent));
  HC_EXPECT(f, p && p->status == 200 && p->body == "got:" + sent);
  HC_EXPECT(f, c.stats().connects == 1);
}

/// Responses around the exchange's read sizes (its first read's 4 KiB
/// block, then 16 KiB more once a read fills it), one after another on
/// one connection: each whole and byte for byte.
duet::Task<void> around_the_read_sizes(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  for (std::size_t n : {std::size_t{1}, std::size_t{4000}, std::size_t{4020}, std::size_t{4030},
                        std::size_t{4050}, std::size_t{4096}, std::size_t{4097}, std::size_t{16384},
                        std::size_t{20400}, std::size_t{20440}, std::size_t{20480},
                        std::size_t{20481}, std::size_t{70000}, std::size_t{37}}) {
    auto g = co_await get(m, c, up.addr(), "/size/" + std::to_string(n));
    HC_EXPECT(f, g && g->status == 200 && g->body == large_body(n));
  }
  HC_EXPECT(f, c.stats().connects == 1);
}

Reply framing_script(const Seen& s, int) {
  const std::string t = target_of(s.head);
  if (s.head.rfind("POST", 0) == 0) return {ok("got:" + s.body)};
  if (t == "/chunked") {
    return {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nWiki\r\n5\r\npedia\r\nB\r\n in chunks.\r\n0\r\n\r\n"};
  }
  if (t == "/a" || t == "/b") return {"HTTP/1.1 200 OK\r\n\r\nuntil the end " + t, true};
  if (t == "/large") return {ok(large_body(300 * 1024))};
  if (t.rfind("/size/", 0) == 0) return {ok(large_body(std::stoul(t.substr(6))))};
  if (t == "/head") return {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"};
  if (t == "/204") return {"HTTP/1.1 204 No Content\r\n\r\n"};
  return {ok(t)};
}

}  // namespace
}  // namespace duet::httpclienttest

using namespace duet::httpclienttest;  // NOLINT: test file

TEST_CASE("client: GET and POST round trip on one connection with Host named", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client round trip");
  run_scenario(drv, model, framing_script, round_trip);
}

TEST_CASE("client: keep-alive reuses one connection", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client keep-alive");
  run_scenario(drv, model, framing_script, keep_alive);
}

TEST_CASE("client: chunked response body then the connection reused", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client chunked");
  run_scenario(drv, model, framing_script, chunked);
}

TEST_CASE("client: close-delimited response body and the connection not pooled", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client close-delimited");
  run_scenario(drv, model, framing_script, close_delimited);
}

TEST_CASE("client: HEAD and 204 carry no body and keep the connection", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client head 204");
  run_scenario(drv, model, framing_script, head_and_204);
}

TEST_CASE("client: bodies larger than a read both ways", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client large bodies");
  run_scenario(drv, model, framing_script, large_bodies);
}

TEST_CASE("client: responses around the read sizes, one after another", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client read sizes");
  run_scenario(drv, model, framing_script, around_the_read_sizes);
}

namespace duet::httpclienttest {
namespace {

/// 50 requests at once, each from a task of its own (a coroutine calling
/// send, or a fiber calling send_now), over 2 workers; each answer names its
/// own target.
duet::Task<void> fifty(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  constexpr int kTasks = 50;
  std::vector<duet::JoinHandle<Outcome>> hs;
  hs.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    const std::string t = "/task/" + std::to_string(i);
    if (m == Model::stackless) {
      hs.push_back(duet::spawn(c.send(up.addr(), Request::make(Method::get, t))));
    } else {
      hs.push_back(duet::spawn(duet::stackful, [&c, a = up.addr(), t] {
        return c.send_now(a, Request::make(Method::get, t));
      }));
    }
  }
  for (int i = 0; i < kTasks; ++i) {
    auto r = co_await std::move(hs[static_cast<std::size_t>(i)]);
    HC_ENSURE_OK(f, r, 200, "/task/" + std::to_string(i));
  }
  const auto st = c.stats();
  HC_EXPECT(f, st.connects + st.reused == kTasks);
  HC_EXPECT(f, st.connects >= 1);
  HC_EXPECT(f, st.idle == st.connects);  // every connection came back
  HC_EXPECT(f, up.requests.load() == kTasks);
  HC_EXPECT(f, static_cast<std::uint64_t>(up.accepted.load()) == st.connects);
}

}  // namespace
}  // namespace duet::httpclienttest

TEST_CASE("client: 50 concurrent requests from tasks on 2 workers", "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client fifty");
  run_scenario(drv, model, framing_script, fifty);
}

TEST_CASE("client: send_now on a plain thread with the pool and its deadline", "[http_client]") {
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);
  INFO("driver " << duet::to_string(drv).data());
  if (!duet::iotest::driver_available(drv)) {
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");
    return;
  }
  duet::nettest::FdCheck fd_check;
  duet::iotest::Watchdog wd("http_client plain thread");
  Upstream up([](const Seen& s, int) {
    if (target_of(s.head) == "/hang") return Reply{"", false, true};
    return Reply{ok(target_of(s.head))};
  });
  auto rt = duet::iotest::make_rt(drv);
  auto acc = up.start(*rt);
  {
    Client c;
    for (int i = 0; i < 3; ++i) {
      const std::string t = "/plain/" + std::to_string(i);
      auto r = c.send_now(up.addr(), Request::make(Method::get, t));
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body == t);
    }
    CHECK(c.stats().connects == 1);
    CHECK(c.stats().reused == 2);
    // An upstream that never answers: the deadline bounds the plain
    // thread's wait (poll(2), real time), and the connection is closed.
    ClientConfig o;
    o.request_timeout = std::chrono::milliseconds(100);
    Client q(o);
    auto h = q.send_now(up.addr(), Request::make(Method::get, "/hang"));
    REQUIRE_FALSE(h);
    CHECK(h.error() == std::errc::timed_out);
    CHECK(q.stats().idle == 0);
    wait_until(up.client_closes, 1);
  }
}

TEST_CASE(
    "client: max_idle_per_origin caps the pool, and the deprecated max_idle_per_host when set",
    "[http_client]") {
  const duet::IoDriver drv = duet::IoDriver::epoll;
  duet::nettest::FdCheck fd_check;
  duet::iotest::Watchdog wd("http_client idle cap");
  Upstream up([](const Seen& s, int) { return Reply{ok(target_of(s.head))}; });
  auto rt = duet::iotest::make_rt(drv);
  auto acc = up.start(*rt);
  // Two requests one after the other: with a cap of 0 none is pooled, so
  // each connects; the default cap (64) pools the first for the second.
  const auto two = [&](const ClientConfig& o) {
    Client c(o);
    for (int i = 0; i < 2; ++i) {
      auto r = c.send_now(up.addr(), Request::make(Method::get, "/cap"));
      REQUIRE(r);
      CHECK(r->status == 200);
    }
    return c.stats();
  };
  const auto pooled = two(ClientConfig{});
  CHECK(pooled.connects == 1);
  CHECK(pooled.reused == 1);
  const auto capped = two(ClientConfig{.max_idle_per_origin = 0});
  CHECK(capped.connects == 2);
  CHECK(capped.idle == 0);
  ClientConfig old;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  old.max_idle_per_host = 0;  // the name before 0.4: set, it wins
#pragma GCC diagnostic pop
  const auto capped_old = two(old);
  CHECK(capped_old.connects == 2);
  CHECK(capped_old.idle == 0);
}

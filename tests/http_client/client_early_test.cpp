// client_early_test.cpp: an upstream that answers before it has read the
// request's body (a 413 to a large upload) and then closes, resetting the
// connection with the body unread. The client's write fails; it must still
// return the upstream's answer (RFC 9112 section 9.5, as curl and Go do),
// never pool that connection, and report the write's error when nothing
// was answered. io_uring and epoll; send, send_now on a fiber, open and
// open_now, a body whole and one from a source, and send_now on a plain
// thread.
#include <array>
#include <memory>
#include <optional>

#include "upstream.hpp"

namespace duet::httpclienttest {
namespace early_test {

/// Far more than the kernel's buffers on both sides of a loopback
/// connection hold while the upstream reads nothing: the client's write
/// cannot finish before the upstream's close resets the connection.
constexpr std::size_t kBig = 16u << 20;

constexpr std::string_view k413 =
    "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n\r\ntoo large";

/// Reads each connection's request head only, writes `answer` (nothing
/// when empty), and closes with the body unread.
class EarlyUpstream {
 public:
  explicit EarlyUpstream(std::string answer) : answer_(std::move(answer)) {
    auto l = duet::net::TcpListener::bind(SocketAddr::v4_loopback(0));
    REQUIRE(l);
    listener_ = std::move(*l);
    auto a = listener_.local_addr();
    REQUIRE(a);
    addr_ = *a;
  }
  [[nodiscard]] SocketAddr addr() const { return addr_; }
  auto start() { return duet::spawn(accept_loop(this)).cancel_on_drop(); }
  auto start(duet::Runtime& rt) { return rt.spawn(accept_loop(this)).cancel_on_drop(); }

  std::atomic<int> closed{0};  // connections answered (or not) and closed

 private:
  static duet::Task<void> serve(EarlyUpstream* up, duet::net::TcpStream s) {
    std::string in;
    std::array<std::byte, 4096> buf{};
    while (in.find("\r\n\r\n") == std::string::npos) {
      auto n = co_await s.read(buf);
      if (!n || *n == 0) co_return;
      in.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    if (!up->answer_.empty()) {
      auto w = co_await s.write_all(up->answer_.data(), up->answer_.size());
      if (!w) co_return;
    }
    (void)s.close();  // the body unread: the kernel resets the connection
    up->closed.fetch_add(1);
  }
  static duet::Task<void> accept_loop(EarlyUpstream* up) {
    for (;;) {
      auto s = co_await up->listener_.accept();
      if (!s) co_return;
      duet::spawn(serve(up, std::move(*s))).detach();
    }
  }

  std::string answer_;
  duet::net::TcpListener listener_;
  SocketAddr addr_;
};

/// A source of kBig bytes in pieces of 256 KiB, its length known or not.
std::shared_ptr<duet::http::BodySource> big_source(bool known) {
  auto left = std::make_shared<std::size_t>(kBig);
  auto src = std::make_shared<duet::http::BodySource>();
  src->next = [left]() -> duet::Task<duet::Result<std::string>> {
    const std::size_t k = std::min<std::size_t>(256u << 10, *left);
    *left -= k;
    co_return std::string(k, 's');
  };
  if (known) src->length = kBig;
  return src;
}

Request upload(Method m) {
  return Request::make(m, "/upload", std::string(kBig, 'x'));
}

/// The head and body of `open` (coroutine) or `open_now` (on a fiber).
duet::Task<Outcome> open_whole(Model m, Client& c, SocketAddr a, Request r) {
  auto req = std::make_shared<Request>(std::move(r));
  auto read_all = [&c, a, req]() -> Outcome {
    auto s = c.open_now(a, std::move(*req));
    if (!s) return s.error();
    Response head = std::move(s->head());
    for (;;) {
      auto piece = s->read_piece_now();
      if (!piece) return piece.error();
      if (piece->empty()) return head;
      head.body += *piece;
    }
  };
  if (m == Model::stackful) {
    // Spawned outside the co_await (the GCC 12 trap upstream.hpp's call
    // names).
    auto h = duet::spawn(duet::stackful, read_all);
    co_return co_await std::move(h);
  }
  auto s = co_await c.open(a, std::move(*req));
  if (!s) co_return s.error();
  Response head = std::move(s->head());
  for (;;) {
    auto piece = co_await s->read_piece();
    if (!piece) co_return piece.error();
    if (piece->empty()) co_return head;
    head.body += *piece;
  }
}

duet::Task<void> early_answer(Model m, Client& c, EarlyUpstream& up, Failures& f) {
  auto acc = up.start();
  auto r = co_await call(m, c, up.addr(), upload(Method::post));
  HC_ENSURE_OK(f, r, 413, "too large");
  // The 413 said nothing of the connection, but it was cut: never pooled.
  HC_EXPECT(f, c.stats().idle == 0);
  for (const bool known : {true, false}) {
    Request s = Request::make(Method::put, "/upload");
    s.source = big_source(known);
    auto p = co_await call(m, c, up.addr(), std::move(s));
    HC_ENSURE_OK(f, p, 413, "too large");
    HC_EXPECT(f, c.stats().idle == 0);
  }
  auto o = co_await open_whole(m, c, up.addr(), upload(Method::post));
  HC_ENSURE_OK(f, o, 413, "too large");
  HC_EXPECT(f, c.stats().idle == 0);
  HC_EXPECT(f, c.stats().connects == 4);
  HC_EXPECT(f, c.stats().reused == 0);
}

duet::Task<void> no_answer(Model m, Client& c, EarlyUpstream& up, Failures& f) {
  auto acc = up.start();
  auto r = co_await call(m, c, up.addr(), upload(Method::post));
  HC_EXPECT(f, !r);
  if (r) co_return;
  HC_EXPECT(f, r.error() == std::errc::connection_reset || r.error() == std::errc::broken_pipe);
  HC_EXPECT(f, c.stats().connects == 1);  // a POST is not sent again
  HC_EXPECT(f, c.stats().idle == 0);
}

template <class S>
void run_early(duet::IoDriver drv, Model model, std::string answer, S scenario) {
  EarlyUpstream up(std::move(answer));
  auto rt = duet::iotest::make_rt(drv);
  Failures f;
  {
    Client client;
    rt->block_on(scenario(model, client, up, f));
  }
  f.report();
}

}  // namespace early_test
}  // namespace duet::httpclienttest

using namespace duet::httpclienttest;  // NOLINT: test file

TEST_CASE("client: an upstream that answers 413 before the body and closes gives the 413",
          "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client early 413");
  early_test::run_early(drv, model, std::string(early_test::k413), early_test::early_answer);
}

TEST_CASE("client: an upstream that closes before the body without answering is an error",
          "[http_client]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client early close");
  early_test::run_early(drv, model, std::string(), early_test::no_answer);
}

TEST_CASE("client: send_now on a plain thread gets the early 413 too", "[http_client]") {
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);
  INFO("driver " << duet::to_string(drv).data());
  if (!duet::iotest::driver_available(drv)) {
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");
    return;
  }
  duet::nettest::FdCheck fd_check;
  duet::iotest::Watchdog wd("http_client early 413 plain thread");
  early_test::EarlyUpstream up{std::string(early_test::k413)};
  auto rt = duet::iotest::make_rt(drv);
  auto acc = up.start(*rt);
  {
    Client c;
    auto r = c.send_now(up.addr(), early_test::upload(Method::post));
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(r->body == "too large");
    CHECK(c.stats().idle == 0);
  }
}

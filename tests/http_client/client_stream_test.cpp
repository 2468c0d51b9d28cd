// client_stream_test.cpp: bodies in pieces through duet::http::Client, in
// both faces (coroutine open/read and send; fiber open_now/read_now and
// send_now) on io_uring and epoll: a response body read piece by piece (by
// Content-Length, chunked and close-delimited; into a buffer, or as the
// pieces arrive), the connection pooled at
// the body's end (at the head when nothing is left to read: HEAD, 204, a
// body that came with it) and closed when the stream is dropped before it, a body
// cut by the upstream, and request bodies from a source (with a length, and
// chunked).
#include <algorithm>
#include <memory>
#include <span>

#include "upstream.hpp"

namespace duet::httpclienttest {
namespace {

std::string stream_text(std::size_t n) {
  std::string s(n, 'x');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('A' + (i * 13 + i / 7) % 26);
  return s;
}

Reply stream_script(const Seen& s, int) {
  const std::string t = target_of(s.head);
  if (s.head.rfind("POST", 0) == 0) return {ok("got " + std::to_string(s.body.size()))};
  if (s.head.rfind("HEAD", 0) == 0) {  // the length a GET would get, no body
    return {"HTTP/1.1 200 OK\r\nContent-Length: 307200\r\n\r\n"};
  }
  if (t == "/large") return {ok(stream_text(300 * 1024))};
  if (t == "/chunked") {
    std::string body = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string text = stream_text(100 * 1000);
    for (std::size_t i = 0; i < text.size(); i += 10000) {
      body += "2710;x=y\r\n" + text.substr(i, 10000) + "\r\n";
    }
    return {body + "0\r\nT: 1\r\n\r\n"};
  }
  if (t == "/empty") return {"HTTP/1.1 204 No Content\r\n\r\n"};
  if (t == "/small") return {ok("small")};
  if (t == "/close") return {"HTTP/1.1 200 OK\r\n\r\n" + stream_text(70000), true};
  if (t == "/cut") {
    return {"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + stream_text(50000), true};
  }
  return {ok(t)};
}

struct Streamed {
  int status = 0;
  std::string body;
  std::error_code error;  // of the open or of a read
};

/// How open_read takes the body: into a buffer of 1000 bytes (read), or
/// as the pieces arrive (read_piece).
enum class Take { buffer, piece };

/// Appends the next piece of `s`'s body to `out` (read_piece): false at the
/// body's end or an error (kept in `out`).
bool append_piece(Streamed& out, duet::Result<std::string> p) {
  if (!p) {
    out.error = p.error();
    return false;
  }
  if (p->empty()) return false;
  out.body += *p;
  return true;
}

/// Opens `req` and reads its body in pieces of 1000 bytes (or stops after
/// `stop_after` bytes, dropping the stream), in face `m`.
duet::Task<Streamed> open_read(Model m, Client& c, SocketAddr a, Request req,
                               std::size_t stop_after = SIZE_MAX, Take take = Take::buffer) {
  if (m == Model::stackless) {
    Streamed out;
    auto s = co_await c.open(a, std::move(req));
    if (!s) {
      out.error = s.error();
      co_return out;
    }
    out.status = s->head().status;
    if (take == Take::piece) {
      for (;;) {
        duet::Result<std::string> p = co_await s->read_piece();
        if (!append_piece(out, std::move(p))) break;
      }
      co_return out;
    }
    std::array<std::byte, 1000> buf{};
    while (out.body.size() < stop_after) {
      // Never past stop_after: a read takes what a piece holds, up to the span.
      const std::size_t want = std::min(buf.size(), stop_after - out.body.size());
      auto n = co_await s->read(std::span(buf).first(want));
      if (!n) {
        out.error = n.error();
        break;
      }
      if (*n == 0) break;
      out.body.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    co_return out;
  }
  auto shared = std::make_shared<Request>(std::move(req));
  auto h = duet::spawn(duet::stackful, [&c, a, shared, stop_after, take] {
    Streamed out;
    auto s = c.open_now(a, *shared);
    if (!s) {
      out.error = s.error();
      return out;
    }
    out.status = s->head().status;
    if (take == Take::piece) {
      while (append_piece(out, s->read_piece_now())) {
      }
      return out;
    }
    std::array<std::byte, 1000> buf{};
    while (out.body.size() < stop_after) {
      const std::size_t want = std::min(buf.size(), stop_after - out.body.size());
      auto n = s->read_now(std::span(buf).first(want));
      if (!n) {
        out.error = n.error();
        break;
      }
      if (*n == 0) break;
      out.body.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    return out;
  });
  co_return co_await std::move(h);
}

duet::Task<void> read_in_pieces(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto a = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/large"));
  HC_EXPECT(f, !a.error);
  HC_EXPECT(f, a.status == 200);
  HC_EXPECT(f, a.body == stream_text(300 * 1024));
  HC_EXPECT(f, c.stats().idle == 1);  // back in the pool at the body's end
  auto b = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/chunked"));
  HC_EXPECT(f, !b.error);
  HC_EXPECT(f, b.body == stream_text(100 * 1000));
  HC_EXPECT(f, c.stats().reused == 1);
  HC_EXPECT(f, c.stats().idle == 1);
  auto d = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/close"));
  HC_EXPECT(f, !d.error);
  HC_EXPECT(f, d.body == stream_text(70000));
  HC_EXPECT(f, c.stats().idle == 0);  // delimited by the close: never pooled
}

duet::Task<void> read_as_they_arrive(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto a = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/large"), SIZE_MAX,
                              Take::piece);
  HC_EXPECT(f, !a.error);
  HC_EXPECT(f, a.body == stream_text(300 * 1024));
  HC_EXPECT(f, c.stats().idle == 1);  // back in the pool at the body's end
  auto b = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/chunked"), SIZE_MAX,
                              Take::piece);
  HC_EXPECT(f, !b.error);
  HC_EXPECT(f, b.body == stream_text(100 * 1000));
  auto d = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/close"), SIZE_MAX,
                              Take::piece);
  HC_EXPECT(f, !d.error);
  HC_EXPECT(f, d.body == stream_text(70000));
  HC_EXPECT(f, c.stats().idle == 0);  // delimited by the close: never pooled
  auto e = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/cut"), SIZE_MAX,
                              Take::piece);
  HC_EXPECT(f, e.error == std::errc::connection_reset);
  HC_EXPECT(f, e.body == stream_text(50000));
}

duet::Task<void> dropped_and_cut(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  // Dropped before the end: the connection is closed, not pooled.
  auto a = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/large"), 5000);
  HC_EXPECT(f, !a.error);
  HC_EXPECT(f, a.body.size() == 5000);
  HC_EXPECT(f, c.stats().idle == 0);
  co_await until(up.client_closes, 1);
  // Cut by the upstream mid-body: the read's error.
  auto b = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/cut"));
  HC_EXPECT(f, b.error == std::errc::connection_reset);
  HC_EXPECT(f, b.body.size() == 50000);
  // The client goes on.
  auto g = co_await get(m, c, up.addr(), "/after");
  HC_ENSURE_OK(f, g, 200, "/after");
}

/// Streams dropped unread: where nothing of the body is left on the wire (a
/// HEAD's response, a 204, a body that came with the head), the connection
/// goes back to the pool at once; one with its body still to come is
/// closed.
duet::Task<void> dropped_unread(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  auto h = co_await open_read(m, c, up.addr(), Request::make(Method::head, "/large"), 0);
  HC_EXPECT(f, !h.error);
  HC_EXPECT(f, h.status == 200);
  HC_EXPECT(f, h.body.empty());
  HC_EXPECT(f, c.stats().idle == 1);
  auto e = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/empty"), 0);
  HC_EXPECT(f, e.status == 204);
  HC_EXPECT(f, c.stats().idle == 1);
  // A HEAD's answer read to its end: no body, no error.
  auto r = co_await open_read(m, c, up.addr(), Request::make(Method::head, "/large"));
  HC_EXPECT(f, !r.error);
  HC_EXPECT(f, r.body.empty());
  HC_EXPECT(f, c.stats().idle == 1);
  HC_EXPECT(f, c.stats().connects == 1);  // all three on one connection
  // The head and the body arrive in one write: read whole at the head.
  auto s = co_await open_read(m, c, up.addr(), Request::make(Method::get, "/small"), 0);
  HC_EXPECT(f, s.status == 200);
  HC_EXPECT(f, c.stats().idle == 1);
  HC_EXPECT(f, c.stats().connects == 1);
  HC_EXPECT(f, up.client_closes.load() == 0);
}

/// A source of `n` bytes of stream_text in pieces of 7000.
std::shared_ptr<duet::http::BodySource> text_source(std::size_t n, bool known) {
  auto at = std::make_shared<std::size_t>(0);
  auto src = std::make_shared<duet::http::BodySource>();
  src->next = [at, n]() -> duet::Task<duet::Result<std::string>> {
    const std::string all = stream_text(n);
    const std::size_t k = std::min<std::size_t>(7000, n - *at);
    std::string piece = all.substr(*at, k);
    *at += k;
    co_return piece;
  };
  if (known) src->length = n;
  return src;
}

duet::Task<void> request_sources(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  for (const bool known : {true, false}) {
    Request r = Request::make(Method::post, "/up");
    r.source = text_source(150 * 1000 + 3, known);
    auto p = co_await call(m, c, up.addr(), std::move(r));
    HC_ENSURE_OK(f, p, 200, "got " + std::to_string(150 * 1000 + 3));
  }
  const auto seen = up.seen();
  HC_EXPECT(f, seen.size() == 2);
  if (seen.size() != 2) co_return;
  HC_EXPECT(f, seen[0].body == stream_text(150 * 1000 + 3));
  HC_EXPECT(f, lowered(seen[0].head).find("content-length: 150003") != std::string::npos);
  HC_EXPECT(f, seen[1].body == stream_text(150 * 1000 + 3));
  HC_EXPECT(f, lowered(seen[1].head).find("transfer-encoding: chunked") != std::string::npos);
  HC_EXPECT(f, c.stats().connects == 1);  // both on one connection
}

}  // namespace
}  // namespace duet::httpclienttest

TEST_CASE("client: a response body read in pieces, pooled at its end", "[http_client][stream]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client stream read");
  duet::httpclienttest::run_scenario(drv, model, duet::httpclienttest::stream_script,
                                     duet::httpclienttest::read_in_pieces);
}

TEST_CASE("client: a response body taken as its pieces arrive, byte for byte",
          "[http_client][stream]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client stream pieces");
  duet::httpclienttest::run_scenario(drv, model, duet::httpclienttest::stream_script,
                                     duet::httpclienttest::read_as_they_arrive);
}

TEST_CASE("client: a stream dropped early closes its connection, a cut body is an error",
          "[http_client][stream]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client stream drop");
  duet::httpclienttest::run_scenario(drv, model, duet::httpclienttest::stream_script,
                                     duet::httpclienttest::dropped_and_cut);
}

TEST_CASE("client: a stream with nothing left to read goes back to the pool unread",
          "[http_client][stream]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client stream unread");
  duet::httpclienttest::run_scenario(drv, model, duet::httpclienttest::stream_script,
                                     duet::httpclienttest::dropped_unread);
}

TEST_CASE("client: request bodies from a source, with a length and chunked",
          "[http_client][stream]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("http_client stream source");
  duet::httpclienttest::run_scenario(drv, model, duet::httpclienttest::stream_script,
                                     duet::httpclienttest::request_sources);
}

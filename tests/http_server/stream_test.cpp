// stream_test.cpp: streamed request bodies (duet/http/body.hpp) end to
// end, for every engine on both drivers, read by coroutine and plain
// handlers: bodies past Limits::buffered_body_bytes by Content-Length and
// chunked (with extensions and trailers), pipelined requests after them,
// a handler that ignores its body, a body cut by the peer, a malformed
// chunk, the limits over the whole stream, read_whole_body, and Expect:
// 100-continue answered at the first read.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.hpp"
#include "test_util.hpp"

using duet::http::Engine;
using http_server_test::Client;
using http_server_test::Fixture;
using http_server_test::fnv1a;
using http_server_test::sum_answer;
using namespace std::chrono_literals;

namespace {

/// A body of `n` bytes, not periodic at any small stride.
std::string stream_body(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>('a' + (x >> 16) % 26);
  }
  return s;
}

std::string post(std::string_view path, std::string_view body, std::string_view extra = {}) {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

/// `body` in chunks of `piece` bytes, each with an extension, and a
/// trailer section.
std::string chunked(std::string_view body, std::size_t piece) {
  std::string out;
  char hex[32];
  for (std::size_t i = 0; i < body.size(); i += piece) {
    const std::string_view c = body.substr(i, piece);
    std::snprintf(hex, sizeof hex, "%zx", c.size());
    out += hex;
    out += ";ext=\"v\"\r\n";
    out += c;
    out += "\r\n";
  }
  out += "0\r\nX-Trailer: done\r\n\r\n";
  return out;
}

template <class F>
void with_stream_server(Engine e, duet::IoDriver d, duet::http::ServerConfig o, F body) {
  Fixture f(e, d, std::move(o));
  const int fds_before = duet::iotest::fd_count();
  body(f);
  CHECK(duet::iotest::settled_fd_count(fds_before) == fds_before);
  CHECK(f.finish() == 0);
}

/// Waits (bounded) until `n` body errors were recorded.
bool wait_body_errors(Fixture& f, int n) {
  for (int i = 0; i < 5000 && f.probe.body_error_count.load() < n; ++i) {
    std::this_thread::sleep_for(1ms);  // polling observable state, not timing
  }
  return f.probe.body_error_count.load() >= n;
}

}  // namespace

TEST_CASE("stream: a body past the threshold is streamed, a small one arrives whole",
          "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  with_stream_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    const std::string big = stream_body(300 * 1024);
    const std::string small = stream_body(1000);
    for (const char* path : {"/sum", "/sum-plain", "/pieces", "/pieces-plain"}) {
      INFO(path);
      // The streamed body, then a pipelined request in the same send.
      c.send(post(path, big) + "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
      auto r = c.response();
      CHECK(r.status == 200);
      CHECK(r.body == sum_answer(true, big.size(), fnv1a(big)));
      CHECK(r.field("Connection").empty());
      CHECK(c.response().body == "Hello, World!");
      c.send(post(path, small));
      CHECK(c.response().body == sum_answer(false, small.size(), fnv1a(small)));
    }
  });
}

TEST_CASE("stream: chunked bodies with extensions and trailers stream past the threshold",
          "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  with_stream_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    const std::string big = stream_body(200 * 1024 + 7);
    const std::string small = stream_body(3000);
    for (const char* path : {"/sum", "/sum-plain", "/pieces", "/pieces-plain"}) {
      INFO(path);
      const std::string head = std::string("POST ") + path +
                               " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
      c.send(head + chunked(big, 10000) + head + chunked(small, 1000));
      CHECK(c.response().body == sum_answer(true, big.size(), fnv1a(big)));
      CHECK(c.response().body == sum_answer(false, small.size(), fnv1a(small)));
    }
  });
}

TEST_CASE("stream: read_whole_body gathers a streamed body up to its cap",
          "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  with_stream_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    const std::string big = stream_body(500 * 1024);
    for (const char* path : {"/whole", "/whole-plain"}) {
      INFO(path);
      c.send(post(path, big));
      CHECK(c.response().body == std::to_string(big.size()) + " " + std::to_string(fnv1a(big)));
    }
  });
}

TEST_CASE("stream: a handler that ignores a large body answers and the connection closes",
          "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  with_stream_server(engine, drv, {}, [](Fixture& f) {
    const std::string big = stream_body(900 * 1024);
    for (const char* path : {"/ignore", "/ignore-plain", "/no-such-route"}) {
      INFO(path);
      Client c(f.port);
      c.send(post(path, big));
      auto r = c.response();
      CHECK(r.status == (std::string_view(path) == "/no-such-route" ? 404 : 200));
      CHECK(r.field("Connection") == "close");
      CHECK(c.closed());
    }
  });
}

TEST_CASE("stream: a body cut by the peer is the reader's error", "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  with_stream_server(engine, drv, {}, [](Fixture& f) {
    const std::string part = stream_body(150 * 1024);
    int errors = 0;
    for (const char* path : {"/sum", "/sum-plain"}) {
      INFO(path);
      {
        Client c(f.port);
        c.send(std::string("POST ") + path +
               " HTTP/1.1\r\nHost: t\r\nContent-Length: 400000\r\n\r\n" + part);
        c.close();
      }
      CHECK(wait_body_errors(f, ++errors));
    }
    // The server serves on.
    Client c(f.port);
    c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.response().body == "Hello, World!");
  });
}

TEST_CASE("stream: a malformed chunk and a chunked body past max_body_bytes fail the reader",
          "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  duet::http::ServerConfig o;
  o.limits.max_body_bytes = 100 * 1024;
  o.limits.buffered_body_bytes = 8 * 1024;
  with_stream_server(engine, drv, o, [](Fixture& f) {
    const std::string part = stream_body(20 * 1024);
    for (const char* path : {"/sum", "/sum-plain", "/pieces", "/pieces-plain"}) {
      INFO(path);
      const std::string head = std::string("POST ") + path +
                               " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
      {
        Client c(f.port);
        std::string chunks = chunked(part, 4096);
        chunks.resize(chunks.find("0\r\nX-Trailer"));  // the chunks, then a bad size line
        c.send(head + chunks + "zz\r\n");
        auto r = c.response();
        CHECK(r.status == 400);
        CHECK(r.field("Connection") == "close");
        CHECK(c.closed());
      }
      {
        Client c(f.port);
        std::string body = chunked(stream_body(150 * 1024), 8192);
        c.send(head + body);
        auto r = c.response();
        CHECK(r.status == 400);
        CHECK(r.body == "error: " + std::make_error_code(std::errc::message_size).message());
        CHECK(r.field("Connection") == "close");
      }
      {
        // By Content-Length: 413 before the handler runs.
        Client c(f.port);
        c.send(std::string("POST ") + path +
               " HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n");
        CHECK(c.response().status == 413);
      }
    }
  });
}

TEST_CASE("stream: Expect 100-continue on a streamed body is answered at the first read",
          "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  with_stream_server(engine, drv, {}, [](Fixture& f) {
    const std::string big = stream_body(100 * 1024);
    for (const char* path : {"/sum", "/sum-plain"}) {
      INFO(path);
      Client c(f.port);
      c.send(std::string("POST ") + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " +
             std::to_string(big.size()) + "\r\nExpect: 100-continue\r\n\r\n");
      CHECK(c.response(/*head_only=*/true).status == 100);
      c.send(big);
      CHECK(c.response().body == sum_answer(true, big.size(), fnv1a(big)));
    }
    // A handler that never reads sends no 100, answers, and closes.
    Client c(f.port);
    c.send(
        "POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: "
        "100-continue\r\n\r\n");
    auto r = c.response();
    CHECK(r.status == 200);
    CHECK(r.field("Connection") == "close");
  });
}

TEST_CASE("stream: a response body from a source, chunked or with its length",
          "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  with_stream_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    for (const char* path : {"/gen", "/gen-plain"}) {
      INFO(path);
      c.send(std::string("GET ") + path + "?n=300 HTTP/1.1\r\nHost: t\r\n\r\n");
      auto r = c.response();
      CHECK(r.status == 200);
      CHECK(r.field("Transfer-Encoding") == "chunked");
      CHECK(r.field("Content-Length").empty());
      CHECK(r.body == http_server_test::gen_body(300));
      // With its length, then pipelined requests after it.
      c.send(std::string("GET ") + path + "?n=40&known=1 HTTP/1.1\r\nHost: t\r\n\r\n" +
             "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
      r = c.response();
      CHECK(r.field("Content-Length") == "40000");
      CHECK(r.field("Transfer-Encoding").empty());
      CHECK(r.body == http_server_test::gen_body(40));
      CHECK(c.response().body == "Hello, World!");
    }
    // The hook saw the known length (and 0 for the chunked ones).
    std::lock_guard lk(f.probe.mu);
    CHECK(std::count(f.probe.log.begin(), f.probe.log.end(),
                     std::pair<int, std::size_t>(200, 40000)) == 2);
    CHECK(std::count(f.probe.log.begin(), f.probe.log.end(), std::pair<int, std::size_t>(200, 0)) ==
          2);
  });
}

TEST_CASE("stream: HEAD, 204 and HTTP/1.0 answers from a source", "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  with_stream_server(engine, drv, {}, [](Fixture& f) {
    Client c(f.port);
    const int made = f.probe.pieces_made.load();
    c.send(
        "HEAD /gen?n=5 HTTP/1.1\r\nHost: t\r\n\r\nGET /gen?n=3&status=204 HTTP/1.1\r\nHost: "
        "t\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    auto h = c.response(/*head_only=*/true);
    CHECK(h.status == 200);
    CHECK(h.field("Transfer-Encoding") == "chunked");
    auto n = c.response(/*head_only=*/true);
    CHECK(n.status == 204);
    CHECK(n.field("Transfer-Encoding").empty());
    CHECK(c.response().body == "Hello, World!");  // no body came between
    CHECK(f.probe.pieces_made.load() == made);    // the producers were not called
    // HTTP/1.0 and no length: the close ends the body.
    Client old(f.port);
    old.send("GET /gen-plain?n=7 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const std::string all = old.until_close();
    const auto at = all.find("\r\n\r\n");
    REQUIRE(at != std::string::npos);
    const std::string head = all.substr(0, at);
    CHECK(head.find("Connection: close") != std::string::npos);
    CHECK(head.find("Transfer-Encoding") == std::string::npos);
    CHECK(all.substr(at + 4) == http_server_test::gen_body(7));
  });
}

TEST_CASE("stream: a source that fails cuts the body short and closes", "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  with_stream_server(engine, drv, {}, [](Fixture& f) {
    for (const char* path : {"/gen?n=10&fail=3", "/gen-plain?n=10&fail=3&known=1"}) {
      INFO(path);
      Client c(f.port);
      c.send(std::string("GET ") + path + " HTTP/1.1\r\nHost: t\r\n\r\n");
      CHECK_THROWS(c.response());  // closed inside the body
    }
    Client c(f.port);
    c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.response().body == "Hello, World!");
  });
}

TEST_CASE("stream: a slow reader holds the client back (no unbounded read-ahead)",
          "[http_server][stream]") {
  HTTP_ENGINE_MATRIX("http_stream");
  duet::http::ServerConfig o;
  o.limits.max_body_bytes = 256u << 20;
  with_stream_server(engine, drv, o, [](Fixture& f) {
    // Far more than the kernel's two buffers hold (the send below stops
    // short of half of it); a quarter of the plain build's under the
    // sanitizers, whose instrumented copies and hashes of the whole body
    // made this the suite's slowest case there.
    const std::string big = stream_body(duet::test::sanitized ? (16u << 20) : (64u << 20));
    int held = 0;
    for (const char* path : {"/hold", "/hold-plain"}) {
      INFO(path);
      f.probe.release.store(false);
      Client c(f.port);
      const std::string wire = post(path, big);
      // Send without blocking until the kernel's buffers are full: the
      // handler reads nothing past its first piece, so neither does the
      // server, and far less than the body goes out.
      std::size_t sent = 0;
      int stalls = 0;
      while (sent < wire.size() && stalls < 200) {
        const auto n =
            ::send(c.fd(), wire.data() + sent, wire.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
          sent += static_cast<std::size_t>(n);
          stalls = 0;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          if (f.probe.held.load() > held) ++stalls;  // full, with the handler parked
          std::this_thread::sleep_for(1ms);          // polling the socket's state
        } else if (n < 0 && errno != EINTR) {
          FAIL("send: " << std::strerror(errno));
        }
      }
      CHECK(f.probe.held.load() == held + 1);
      CHECK(sent < wire.size() / 2);
      ++held;
      f.probe.release.store(true);
      c.send(std::string_view(wire).substr(sent));
      auto r = c.response();
      // The first read may be short (what came with the head): the rest after it.
      const std::size_t first = std::stoul(r.body);
      CHECK(first >= 1);
      CHECK(first <= 1000);
      const std::string rest = big.substr(first);
      CHECK(r.body == std::to_string(first) + " + " + sum_answer(true, rest.size(), fnv1a(rest)));
    }
  });
}

TEST_CASE(
    "stream: a runtime shut down while a handler waits inside a body read frees nothing early",
    "[http_server][stream]") {
  // The handler's read is parked on the connection's stream when the
  // runtime cancels every task: the connection's task and a plain
  // handler's fiber unwind in either order, and neither may touch what the
  // other already freed (ASan sees it if one does).
  HTTP_ENGINE_MATRIX("http_stream");
  for (const char* path : {"/sum", "/sum-plain"}) {
    INFO(path);
    const int fds_before = duet::iotest::fd_count();
    Fixture f(engine, drv);
    const std::string part = stream_body(150 * 1024);
    Client c(f.port);
    c.send(std::string("POST ") + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: 400000\r\n\r\n" +
           part);
    // Every byte sent is read: the handler's next read waits for more.
    for (int i = 0; i < 5000 && f.probe.body_bytes_read.load() < part.size(); ++i) {
      std::this_thread::sleep_for(1ms);  // polling observable state, not timing
    }
    REQUIRE(f.probe.body_bytes_read.load() == part.size());
    f.rt->shutdown();
    CHECK(f.probe.body_error_count.load() == 0);  // cancelled, never answered wrongly
    c.close();
    f.finish();
    CHECK(duet::iotest::settled_fd_count(fds_before) == fds_before);
  }
}

// request_decoder_test.cpp: the server's RequestDecoder: framing, the
// request-smuggling shapes, the limits, Expect, HTTP/1.0, pipelining, and
// that every way of cutting the same bytes decodes alike.
#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "alloc_tracker.hpp"
#include "codec_feed.hpp"
#include "duet/http/codec.hpp"
#include "test_util.hpp"

using duet::http::Method;
using duet::http::Request;
using duet::http::RequestDecoder;
using http_codec_test::decode_bytes;
using http_codec_test::decode_every_split;
using http_codec_test::decode_whole;
using http_codec_test::Decoded;
using http_codec_test::Limits;

namespace {

constexpr std::string_view kGetReq = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

/// Checks that `stream` is refused with `status` in every split.
void refused(std::string_view stream, int status, const Limits& limits = {}) {
  INFO("request " << stream);
  const Decoded d = decode_every_split(stream, limits);
  CHECK(d.requests.empty());
  CHECK(d.error == status);
}

}  // namespace

TEST_CASE("a GET decodes into its method, target, version and fields", "[http_codec]") {
  const Decoded d =
      decode_every_split("GET /plaintext?a=1&b=2 HTTP/1.1\r\nHost: t\r\nX-A:  v \r\n\r\n");
  REQUIRE(d.error == 0);
  REQUIRE(d.requests.size() == 1);
  const Request& r = d.requests[0];
  CHECK(r.method == Method::get);
  CHECK(r.method_name == "GET");
  CHECK(r.target == "/plaintext?a=1&b=2");
  CHECK(r.path() == "/plaintext");
  CHECK(r.query_param("b") == "2");
  CHECK(r.version == 11);
  CHECK(r.headers.get("host") == "t");
  CHECK(r.headers.get("X-A") == "v");
  CHECK(r.body.empty());
  CHECK(r.keep_alive());
}

TEST_CASE("pipelined requests stop at each request with its byte count", "[http_codec]") {
  const std::string a(kGetReq);
  const std::string b = "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
  const std::string c = "DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n";
  const std::string all = a + b + c;
  RequestDecoder d(Limits{});
  std::string_view in = all;
  auto s = d.feed(in);
  REQUIRE(s.event == RequestDecoder::Event::request);
  CHECK(s.consumed == a.size());
  CHECK(d.take().path() == "/plaintext");
  CHECK(d.idle());
  in.remove_prefix(s.consumed);
  s = d.feed(in);
  REQUIRE(s.event == RequestDecoder::Event::request);
  CHECK(s.consumed == b.size());
  const Request rb = d.take();
  CHECK(rb.method == Method::post);
  CHECK(rb.body == "hello");
  in.remove_prefix(s.consumed);
  s = d.feed(in);
  REQUIRE(s.event == RequestDecoder::Event::request);
  CHECK(s.consumed == c.size());
  CHECK(d.take().method == Method::delete_);
  CHECK(d.feed({}).event == RequestDecoder::Event::need_more);
  const Decoded all_splits = decode_every_split(all);
  REQUIRE(all_splits.requests.size() == 3);
}

TEST_CASE("idle and in_body follow the request's progress", "[http_codec]") {
  RequestDecoder d(Limits{});
  CHECK(d.idle());
  CHECK_FALSE(d.in_body());
  auto s = d.feed("POST /p HTTP/1.1\r\nHo");
  CHECK(s.event == RequestDecoder::Event::need_more);
  CHECK_FALSE(d.idle());
  CHECK_FALSE(d.in_body());
  s = d.feed("st: t\r\nContent-Length: 4\r\n\r\nab");
  CHECK(s.event == RequestDecoder::Event::need_more);
  CHECK(d.in_body());
  s = d.feed("cd");
  CHECK(s.event == RequestDecoder::Event::request);
  CHECK(d.take().body == "abcd");
  CHECK(d.idle());
  CHECK_FALSE(d.in_body());
}

TEST_CASE("smuggling shapes are refused with 400 in every split", "[http_codec]") {
  // The shapes tests/http/http_test.cpp sends to the example server.
  const char* bad[] = {
      "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
      "GET /json HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n",
      "GET /json HTTP/1.1\r\nHost: t\r\nX-A: o\x01ne\r\n\r\n",
      "GET /json HTTP/1.1\r\nHost : t\r\n\r\n",
      "GET /json HTTP/1.1\r\n\r\n",
      "GET /json HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GARBAGE\r\n\r\n",
      "GET /json y HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /json HTTP/1.x\r\nHost: t\r\n\r\n",
  };
  for (const char* req : bad) refused(req, 400);
}

TEST_CASE("more framing shapes are refused with 400", "[http_codec]") {
  const char* bad[] = {
      // Transfer-Encoding before Content-Length, and after a non-chunked one.
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd",
      // A Content-Length list, a sign, a space inside, empty.
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3 3\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n",
      // chunked not last, twice, or in two fields; no chunked at all.
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
      "chunked\r\n\r\n"
      "0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
      // Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1).
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      // obs-fold after an empty first line, and with a tab.
      "GET / HTTP/1.1\r\nHost: t\r\nX-A:\r\n two\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: t\r\nX-A: one\r\n\ttwo\r\n\r\n",
      // Whitespace before the colon (a tab), a bare LF, an empty name.
      "GET / HTTP/1.1\r\nHost\t: t\r\n\r\n",
      "GET / HTTP/1.1\nHost: t\n\n",
      "GET / HTTP/1.1\r\n: t\r\nHost: t\r\n\r\n",
      // A malformed method token, a target not in any form RFC 9112 3.2 allows.
      "G(T / HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET json HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET * HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET ftp://h/x HTTP/1.1\r\nHost: t\r\n\r\n",
      // Bad chunk sizes: not hex, signed, 0x, overflowing, a bad extension.
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nx\r\nabc\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\na\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "10000000000000000\r\na\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;=x\r\na\r\n0\r\n\r\n",
      // Chunk data longer than its size (no CRLF where it ends).
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
  };
  for (const char* req : bad) refused(req, 400);
}

TEST_CASE("an unknown method is 501, an unknown transfer coding 501", "[http_codec]") {
  refused("BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501);
  refused("get / HTTP/1.1\r\nHost: t\r\n\r\n", 501);  // methods are case-sensitive
  refused("POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
          501);
}

TEST_CASE("a well-formed version other than 1.0 and 1.1 is 505", "[http_codec]") {
  refused("GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
  refused("GET / HTTP/0.9\r\n\r\n", 505);
  refused("GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505);
  refused("GET / HTTP/11.1\r\nHost: t\r\n\r\n", 400);
  refused("GET / HTTP/1.1x\r\nHost: t\r\n\r\n", 400);
}

TEST_CASE("headers over the limit are 431, at the byte", "[http_codec]") {
  Limits l;
  l.max_header_bytes = 1024;
  refused("GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n",
          431, l);
  refused("GET /" + std::string(2000, 'u') + " HTTP/1.1\r\nHost: t\r\n\r\n", 431, l);
  // Unterminated: refused once the bytes pass the limit.
  CHECK(decode_whole("GET /plaintext HTTP/1.1\r\nX: " + std::string(1100, 'a'), l).error == 431);
  CHECK(decode_bytes("GET /plaintext HTTP/1.1\r\nX: " + std::string(1100, 'a'), l).error == 431);
  const std::string head = "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Big: ";
  const std::string exact = head + std::string(1024 - head.size() - 4, 'a') + "\r\n\r\n";
  REQUIRE(exact.size() == 1024);
  CHECK(decode_every_split(exact, l).requests.size() == 1);
  refused(head + std::string(1024 - head.size() - 3, 'a') + "\r\n\r\n", 431, l);
  // Trailers count against the same limit.
  refused("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " +
              std::string(1100, 'a') + "\r\n\r\n",
          431, l);
}

TEST_CASE("bodies over the limit are 413", "[http_codec]") {
  Limits l;
  l.max_body_bytes = 1000;
  CHECK(decode_whole("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", l).error ==
        413);
  std::string chunked = "POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) chunked += "100\r\n" + std::string(256, 'x') + "\r\n";
  CHECK(decode_whole(chunked, l).error == 413);
  CHECK(decode_bytes(chunked, l).error == 413);
  const std::string at_limit =
      "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b');
  const Decoded ok = decode_whole(at_limit, l);
  REQUIRE(ok.requests.size() == 1);
  CHECK(ok.requests[0].body.size() == 1000);
  CHECK(decode_whole("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "ffffffffffffffff\r\n",
                     l)
            .error == 413);
}

TEST_CASE("chunked bodies are reassembled past extensions and trailers", "[http_codec]") {
  const std::string req =
      "POST /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n6 ; a=\"q s\";b\r\n world\r\n0;last\r\nTrailer-One: x\r\n\r\n";
  const Decoded d = decode_every_split(req + std::string(kGetReq));
  REQUIRE(d.error == 0);
  REQUIRE(d.requests.size() == 2);
  CHECK(d.requests[0].body == "hello world");
  CHECK_FALSE(d.requests[0].headers.contains("Trailer-One"));
  CHECK(d.requests[1].path() == "/plaintext");
  // Upper-case hex and leading zeros are sizes too.
  const Decoded hex = decode_every_split(
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "0A\r\n0123456789\r\n000\r\n\r\n");
  REQUIRE(hex.requests.size() == 1);
  CHECK(hex.requests[0].body == "0123456789");
}

TEST_CASE("Expect 100-continue is due once, only while the body has not come", "[http_codec]") {
  const std::string head =
      "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
  RequestDecoder d(Limits{});
  auto s = d.feed(head);
  CHECK(s.event == RequestDecoder::Event::continue_100);
  CHECK(s.consumed == head.size());
  CHECK(d.feed({}).event == RequestDecoder::Event::need_more);  // once
  s = d.feed("bo");
  CHECK(s.event == RequestDecoder::Event::need_more);
  s = d.feed("dy");
  REQUIRE(s.event == RequestDecoder::Event::request);
  CHECK(d.take().body == "body");
  // Head and body together: no 100 Continue.
  CHECK(decode_whole(head + "body").continues == 0);
  CHECK(decode_whole(head + "body").requests.size() == 1);
  // Byte by byte: the head ends alone once.
  CHECK(decode_bytes(head + "body").continues == 1);
  // Chunked, the same.
  CHECK(decode_whole("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                     "Expect: 100-Continue\r\n\r\n")
            .continues == 1);
  // No body, or HTTP/1.0 (RFC 9110 10.1.1: ignored): none.
  CHECK(decode_whole("GET / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n").continues == 0);
  CHECK(decode_whole("POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
            .continues == 0);
  // Another expectation: 417.
  refused("GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: magic\r\n\r\nbody",
          417);
  CHECK(duet::http::continue_response() == "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST_CASE("HTTP/1.0 needs no Host and keeps alive only when asked", "[http_codec]") {
  Decoded d = decode_every_split("GET /plaintext HTTP/1.0\r\n\r\n");
  REQUIRE(d.requests.size() == 1);
  CHECK(d.requests[0].version == 10);
  CHECK_FALSE(d.requests[0].keep_alive());
  d = decode_every_split("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(d.requests.size() == 1);
  CHECK(d.requests[0].keep_alive());
  CHECK(duet::http::Answering::to(d.requests[0]).version == 10);
  d = decode_every_split("GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  CHECK_FALSE(d.requests[0].keep_alive());
}

TEST_CASE("HEAD, OPTIONS *, absolute-form, empty lines before a request", "[http_codec]") {
  Decoded d = decode_every_split("HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(d.requests.size() == 1);
  CHECK(d.requests[0].method == Method::head);
  CHECK(duet::http::Answering::to(d.requests[0]).head);
  d = decode_every_split("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(d.requests.size() == 1);
  CHECK(d.requests[0].target == "*");
  // RFC 9112 3.2.2: the target's authority replaces the Host field.
  d = decode_every_split("GET http://example.com:8080/a?b=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  REQUIRE(d.requests.size() == 1);
  CHECK(d.requests[0].target == "/a?b=1");
  CHECK(d.requests[0].headers.get("Host") == "example.com:8080");
  d = decode_every_split("GET HTTP://h?q HTTP/1.1\r\n\r\n");
  REQUIRE(d.requests.size() == 1);
  CHECK(d.requests[0].target == "/?q");
  // RFC 9112 2.2: empty lines before a request-line are ignored.
  d = decode_every_split("\r\n\r\n" + std::string(kGetReq) + "\r\n" + std::string(kGetReq));
  CHECK(d.requests.size() == 2);
  CHECK(d.error == 0);
}

TEST_CASE("a request that switches protocols ends the HTTP stream", "[http_codec]") {
  RequestDecoder d(Limits{});
  const std::string up = "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n";
  auto s = d.feed(up + "\x01\x02 not http");
  REQUIRE(s.event == RequestDecoder::Event::request);
  CHECK(s.consumed == up.size());
  CHECK(d.take().path() == "/ws");
  CHECK(d.closing());
  s = d.feed("\x01\x02 not http");
  CHECK(s.event == RequestDecoder::Event::need_more);
  CHECK(s.consumed == 11);
  RequestDecoder plain(Limits{});
  REQUIRE(plain.feed(kGetReq).event == RequestDecoder::Event::request);
  CHECK_FALSE(plain.closing());
}

TEST_CASE("an error is final: the decoder refuses what follows", "[http_codec]") {
  RequestDecoder d(Limits{});
  auto s = d.feed("GET / HTTP/1.1\r\nHost : t\r\n\r\n");
  REQUIRE(s.event == RequestDecoder::Event::error);
  CHECK(d.error_status() == 400);
  s = d.feed(kGetReq);
  CHECK(s.event == RequestDecoder::Event::error);
  CHECK(s.consumed == 0);
}

TEST_CASE("a decoder moves with its state", "[http_codec]") {
  RequestDecoder a(Limits{});
  CHECK(a.feed("GET /x HTTP/1.1\r\n").event == RequestDecoder::Event::need_more);
  RequestDecoder b(std::move(a));
  REQUIRE(b.feed("Host: t\r\n\r\n").event == RequestDecoder::Event::request);
  CHECK(b.take().target == "/x");
}

TEST_CASE("a decoder released between requests holds no heap memory", "[http_codec]") {
  if (!duet::test::alloc_tracking_enabled()) DUET_SKIP("operator new is the sanitizer's here");
  const std::string two = std::string(kGetReq) + std::string(kGetReq);  // pipelined, below
  RequestDecoder d(Limits{});
  const auto base = duet::test::alloc_counts().live();
  CHECK(d.idle());
  d.release();  // nothing to free yet
  for (int i = 0; i < 3; ++i) {
    REQUIRE(d.feed(kGetReq).event == RequestDecoder::Event::request);
    { const Request r = d.take(); }
    CHECK(d.idle());
    d.release();
    CHECK(duet::test::alloc_counts().live() == base);
  }
  // Part of the next request: release() keeps its state, and the whole of
  // it is decoded as if nothing had been asked.
  REQUIRE(d.feed("GET /a HTTP/1.1\r\n").event == RequestDecoder::Event::need_more);
  CHECK_FALSE(d.idle());
  d.release();
  CHECK(duet::test::alloc_counts().live() > base);
  REQUIRE(d.feed("Host: t\r\n\r\n").event == RequestDecoder::Event::request);
  CHECK(d.take().target == "/a");
  d.release();
  CHECK(duet::test::alloc_counts().live() == base);
  // Pipelined requests keep the state from one to the next until released.
  // (The first makes the state, the second does not.)
  std::string_view in = two;
  const auto n0 = duet::test::alloc_counts().news;
  const auto s = d.feed(in);
  REQUIRE(s.event == RequestDecoder::Event::request);
  (void)d.take();
  const auto n1 = duet::test::alloc_counts().news;
  CHECK(duet::test::alloc_counts().live() > base);
  in.remove_prefix(s.consumed);
  REQUIRE(d.feed(in).event == RequestDecoder::Event::request);
  (void)d.take();
  const auto n2 = duet::test::alloc_counts().news;
  CHECK(n2 - n1 < n1 - n0);
  d.release();
  CHECK(duet::test::alloc_counts().live() == base);
}

TEST_CASE("a request given back is decoded into again, with nothing of it left", "[http_codec]") {
  RequestDecoder d(Limits{});
  d.reuse(Request{});  // before the first feed: dropped
  const std::string first =
      "POST /users/12345/posts/67890?x=1 HTTP/1.1\r\nHost: t\r\nX-Long-Name-For-A-Field: " +
      std::string(40, 'v') + "\r\nA: 1\r\nB: 2\r\nContent-Length: 40\r\n\r\n" +
      std::string(40, 'b');
  const std::string second = "GET /p HTTP/1.1\r\nHost: u\r\n\r\n";
  REQUIRE(d.feed(first).event == RequestDecoder::Event::request);
  Request r = d.take();
  CHECK(r.headers.size() == 5);
  // Within the next message it is dropped; between messages it is kept.
  REQUIRE(d.feed("GET /q HTTP/1.1\r\n").event == RequestDecoder::Event::need_more);
  d.reuse(Request{});
  REQUIRE(d.feed("Host: v\r\n\r\n").event == RequestDecoder::Event::request);
  CHECK(d.take().target == "/q");
  d.reuse(std::move(r));
  REQUIRE(d.feed(second).event == RequestDecoder::Event::request);
  const Request again = d.take();
  CHECK(again.method == Method::get);
  CHECK(again.target == "/p");
  CHECK(again.body.empty());
  REQUIRE(again.headers.size() == 1);
  CHECK(again.headers.get("host") == "u");
  CHECK(!again.headers.contains("A"));
  if (!duet::test::alloc_tracking_enabled()) return;
  // Warm, a request like the first allocates only what does not fit in
  // the room kept: here, nothing for its target, fields or body.
  REQUIRE(d.feed(first).event == RequestDecoder::Event::request);
  d.reuse(d.take());
  const auto n0 = duet::test::alloc_counts().news;
  REQUIRE(d.feed(first).event == RequestDecoder::Event::request);
  Request kept = d.take();
  const auto with_reuse = duet::test::alloc_counts().news - n0;
  d.reuse(Request{});  // nothing kept
  const auto n1 = duet::test::alloc_counts().news;
  REQUIRE(d.feed(first).event == RequestDecoder::Event::request);
  const Request fresh = d.take();
  const auto without = duet::test::alloc_counts().news - n1;
  CHECK(kept.target == fresh.target);
  CHECK(kept.body == fresh.body);
  CHECK(with_reuse + 3 <= without);  // the target, the fields' array, the body
}

TEST_CASE("the sticky states outlive the request that set them", "[http_codec]") {
  RequestDecoder d(Limits{});
  const std::string up = "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n";
  REQUIRE(d.feed(up).event == RequestDecoder::Event::request);
  (void)d.take();
  d.release();
  CHECK(d.closing());
  CHECK(d.feed(kGetReq).event == RequestDecoder::Event::need_more);
  RequestDecoder moved(Limits{});
  RequestDecoder to(std::move(moved));
  CHECK(to.idle());
  CHECK_FALSE(to.in_body());
  CHECK(to.error_status() == 0);
  CHECK_FALSE(to.take_continue());
  REQUIRE(to.feed(kGetReq).event == RequestDecoder::Event::request);
  CHECK(to.take().path() == "/plaintext");
}

TEST_CASE("random cuts of a pipelined stream give the same requests (seeded)", "[http_codec]") {
  std::string stream;
  const std::string reqs[] = {
      std::string(kGetReq),
      "POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nX-Y: z\r\n\r\nhello world",
      "PUT /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;e=1\r\nabc\r\n1\r\nd\r\n0\r\nT: v\r\n\r\n",
      "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "\r\nPATCH /p HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
  };
  for (int i = 0; i < 40; ++i) stream += reqs[static_cast<std::size_t>(i) % 5];
  const Decoded whole = decode_whole(stream);
  REQUIRE(whole.error == 0);
  REQUIRE(whole.requests.size() == 40);
  CHECK(whole.requests[2].body == "abcd");
  std::mt19937 rng(20240605);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::size_t> cuts;
    std::size_t at = 0;
    std::uniform_int_distribution<std::size_t> len(1, round % 2 == 0 ? 8 : 300);
    while ((at += len(rng)) < stream.size()) cuts.push_back(at);
    INFO("round " << round);
    const Decoded d = http_codec_test::decode_cut(stream, cuts);
    REQUIRE(d.error == 0);
    REQUIRE(d.requests.size() == whole.requests.size());
    for (std::size_t i = 0; i < d.requests.size(); ++i) {
      REQUIRE(http_codec_test::same_request(d.requests[i], whole.requests[i]));
    }
  }
}

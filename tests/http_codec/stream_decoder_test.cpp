// stream_decoder_test.cpp: the RequestDecoder's streamed bodies
// (Limits::buffered_body_bytes): Event::head, then the body in
// body_piece() through Event::body and Event::body_end, in every cut of
// the input, for Content-Length and chunked bodies, with a pipelined
// request after; the limits over the stream; take_continue.
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "duet/http/codec.hpp"

using duet::http::Limits;
using duet::http::Request;
using duet::http::RequestDecoder;

namespace {

struct StreamDecoded {
  std::vector<Request> heads;      // streamed requests
  std::vector<std::string> whole;  // bodies of requests not streamed
  std::vector<std::string> streamed;
  int error = 0;
};

/// Feeds `in` in pieces of `cut` bytes, gathering each streamed body.
StreamDecoded decode_stream(std::string_view in, std::size_t cut, const Limits& limits) {
  StreamDecoded out;
  RequestDecoder d(limits);
  bool in_stream = false;
  std::size_t pos = 0;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    std::string_view piece = in.substr(pos, std::min(cut, in.size() - pos));
    const auto step = d.feed(piece);
    pos += step.consumed;
    using Event = RequestDecoder::Event;
    switch (step.event) {
      case Event::request:
        out.whole.push_back(d.take().body);
        break;
      case Event::head:
        out.heads.push_back(d.take());
        out.streamed.emplace_back();
        in_stream = true;
        break;
      case Event::body:
      case Event::body_end:
        REQUIRE(in_stream);
        out.streamed.back() += d.body_piece();
        d.body_piece().clear();
        if (step.event == Event::body_end) in_stream = false;
        break;
      case Event::error:
        out.error = d.error_status();
        return out;
      case Event::continue_100:
        break;
      case Event::need_more:
        if (pos == in.size() && !in_stream) return out;
        break;
    }
    if (pos == in.size() && step.event == Event::need_more) return out;
  }
  FAIL("the decoder did not finish");
  return out;
}

std::string body_of(std::size_t n) {
  std::string s(n, 'x');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i * 7 % 26);
  return s;
}

}  // namespace

TEST_CASE("decoder: a body past buffered_body_bytes is streamed in every cut",
          "[http_codec][stream]") {
  Limits l;
  l.buffered_body_bytes = 100;
  const std::string big = body_of(1000);
  const std::string small = body_of(50);
  std::string chunked;
  char hex[16];
  for (std::size_t i = 0; i < big.size(); i += 300) {
    const std::string c = big.substr(i, 300);
    std::snprintf(hex, sizeof hex, "%zx", c.size());
    chunked += std::string(hex) + ";e=1\r\n" + c + "\r\n";
  }
  chunked += "0\r\nT: v\r\n\r\n";
  const std::string stream = "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + big +
                             "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                             chunked + "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n" +
                             small + "GET /d HTTP/1.1\r\nHost: t\r\n\r\n";
  for (std::size_t cut :
       {std::size_t{1}, std::size_t{3}, std::size_t{64}, std::size_t{333}, stream.size()}) {
    INFO("cut " << cut);
    const StreamDecoded d = decode_stream(stream, cut, l);
    CHECK(d.error == 0);
    REQUIRE(d.heads.size() == 2);
    CHECK(d.heads[0].target == "/a");
    CHECK(d.heads[1].target == "/b");
    CHECK(d.heads[0].body.empty());
    CHECK(d.heads[1].body.empty());
    CHECK(d.streamed[0] == big);
    CHECK(d.streamed[1] == big);
    REQUIRE(d.whole.size() == 2);
    CHECK(d.whole[0] == small);
    CHECK(d.whole[1].empty());
  }
}

TEST_CASE("decoder: limits hold over a streamed body, and 100-continue is the reader's",
          "[http_codec][stream]") {
  Limits l;
  l.buffered_body_bytes = 100;
  l.max_body_bytes = 500;
  // By Content-Length: 413 at the head.
  CHECK(decode_stream("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 501\r\n\r\n", 7, l).error ==
        413);
  // Chunked: streamed past 100, refused past 500.
  std::string body = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 6; ++i) body += "64\r\n" + body_of(100) + "\r\n";
  const StreamDecoded d = decode_stream(body, 50, l);
  CHECK(d.heads.size() == 1);
  CHECK(d.error == 413);
  // A malformed chunk after the switch: 400.
  std::string bad = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  bad += "c8\r\n" + body_of(200) + "\r\nzz\r\n";
  // (Whole in one feed, the error comes before the head: no handler runs.)
  CHECK(decode_stream(bad, 4096, l).heads.empty());
  const StreamDecoded b = decode_stream(bad, 20, l);
  CHECK(b.heads.size() == 1);
  CHECK(b.error == 400);

  RequestDecoder dec(l);
  const std::string_view head =
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 200\r\nExpect: 100-continue\r\n\r\n";
  auto s = dec.feed(head);
  REQUIRE(s.event == RequestDecoder::Event::head);
  CHECK(s.consumed == head.size());
  (void)dec.take();
  CHECK(dec.take_continue());
  CHECK_FALSE(dec.take_continue());  // once
  s = dec.feed(body_of(200));
  CHECK(s.event == RequestDecoder::Event::body_end);
  CHECK(dec.body_piece() == body_of(200));
}

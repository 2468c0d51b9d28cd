// writer_and_client_test.cpp: write_response / write_error bytes, the Date
// field, the client's ResponseDecoder (every framing, interim responses,
// limits, errors) and the round trips writer -> decoder both ways.
#include <catch2/catch.hpp>
#include <regex>
#include <string>
#include <vector>

#include "alloc_tracker.hpp"
#include "codec_feed.hpp"
#include "duet/http/codec.hpp"
#include "test_util.hpp"

using duet::http::Answering;
using duet::http::Limits;
using duet::http::Method;
using duet::http::Request;
using duet::http::RequestDecoder;
using duet::http::Response;
using duet::http::ResponseDecoder;

namespace {

/// `out` with the Date field's value replaced by "D" (after checking it is
/// an IMF-fixdate).
std::string without_date(const std::string& out) {
  static const std::regex date(
      "Date: ([A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} "
      "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT)\r\n");
  std::smatch m;
  REQUIRE(std::regex_search(out, m, date));
  return std::regex_replace(out, date, "Date: D\r\n");
}

struct Got {
  std::vector<Response> responses;
  bool error = false;
  std::string error_text;
  bool reusable = true;
};

/// Feeds `bytes` to a client decoder in pieces of `piece` bytes (0: whole),
/// each response expected for `methods` in turn; `eof` calls finish() at
/// the end.
Got client_decode(std::string_view bytes, std::vector<Method> methods, std::size_t piece = 0,
                  bool eof = false, const Limits& limits = {}) {
  ResponseDecoder d(limits);
  Got g;
  std::size_t next = 0;
  if (!methods.empty()) d.expect(methods[next++]);
  std::size_t at = 0;
  while (at < bytes.size() || (at == 0 && bytes.empty())) {
    const std::size_t n = piece == 0 ? bytes.size() - at : std::min(piece, bytes.size() - at);
    std::string_view in = bytes.substr(at, n);
    at += n;
    for (;;) {
      const auto s = d.feed(in);
      in.remove_prefix(s.consumed);
      if (s.event == ResponseDecoder::Event::need_more) break;
      if (s.event == ResponseDecoder::Event::error) {
        g.error = true;
        g.error_text = std::string(d.error_text());
        return g;
      }
      g.responses.push_back(d.take());
      g.reusable = d.reusable();
      if (next < methods.size()) d.expect(methods[next++]);
    }
    if (bytes.empty()) break;
  }
  if (eof) {
    const auto s = d.finish();
    if (s.event == ResponseDecoder::Event::error) {
      g.error = true;
      g.error_text = std::string(d.error_text());
    } else {
      g.responses.push_back(d.take());
      g.reusable = d.reusable();
    }
  }
  return g;
}

}  // namespace

TEST_CASE("write_response writes the head session.cpp wrote", "[http_codec]") {
  std::string out;
  duet::http::write_response(out, Response::text(200, "Hello, World!"), Answering{});
  CHECK(without_date(out) ==
        "HTTP/1.1 200 OK\r\nServer: duet\r\nDate: D\r\nContent-Type: text/plain\r\n"
        "Content-Length: 13\r\n\r\nHello, World!");
  out.clear();
  duet::http::write_response(out, Response::json(200, "{}"),
                             Answering{.head = false, .version = 11, .close = true});
  CHECK(without_date(out) ==
        "HTTP/1.1 200 OK\r\nServer: duet\r\nDate: D\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
}

TEST_CASE("write_response takes one allocation into an empty output", "[http_codec]") {
  if (!duet::test::alloc_tracking_enabled()) DUET_SKIP("operator new is the sanitizer's here");
  Response r = Response::text(404, std::string(300, 'x'));
  r.headers.set("X-Request-Id", std::string(40, 'i'));
  const Answering a{.head = false, .version = 10, .close = true};
  std::string warm;
  duet::http::write_response(warm, r, a);  // the thread's Date cache made
  std::string out;
  const auto before = duet::test::alloc_counts().news;
  duet::http::write_response(out, r, a);
  CHECK(duet::test::alloc_counts().news - before == 1);
  CHECK(without_date(out) == without_date(warm));
}

TEST_CASE("write_response: HEAD, bodiless statuses, HTTP/1.0, replaced fields", "[http_codec]") {
  std::string out;
  duet::http::write_response(out, Response::text(200, "abc"),
                             Answering{.head = true, .version = 11, .close = false});
  CHECK(out.ends_with("Content-Length: 3\r\n\r\n"));
  out.clear();
  duet::http::write_response(out, Response::empty(204), Answering{});
  CHECK(out.find("Content-Length") == std::string::npos);
  out.clear();
  Response nm = Response::text(304, "ignored");
  duet::http::write_response(out, nm, Answering{});
  CHECK(out.find("Content-Length") == std::string::npos);
  CHECK(out.ends_with("\r\n\r\n"));
  out.clear();
  duet::http::write_response(out, Response::text(200, "x"),
                             Answering{.head = false, .version = 10, .close = false});
  CHECK(out.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(out.find("Connection: keep-alive\r\n") != std::string::npos);
  out.clear();
  Response r = Response::text(201, "x");
  r.headers.add("content-length", "99");
  r.headers.add("Server", "other");
  r.headers.add("Date", "yesterday");
  r.headers.add("Connection", "keep-alive");
  r.headers.add("Transfer-Encoding", "chunked");
  r.headers.add("X-Evil", "a\r\nInjected: 1");
  r.headers.add("X-Ok", "1");
  // A lone LF, a NUL, a CR in the name: dropped too; the other bytes below
  // a space (a tab, a vertical tab) are the handler's to send.
  r.headers.add("X-Lf", "a\nInjected: 1");
  r.headers.add("X-Nul", std::string_view("a\0b", 3));
  r.headers.add("X-Name\r", "1");
  r.headers.add("X-Tab", "a\tb\x0b");
  duet::http::write_response(out, r, Answering{.head = false, .version = 11, .close = true});
  CHECK(without_date(out) ==
        "HTTP/1.1 201 Created\r\nServer: duet\r\nDate: D\r\nContent-Type: text/plain\r\n"
        "X-Ok: 1\r\nX-Tab: a\tb\x0b\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
}

TEST_CASE("Headers keep repeats in order and set replaces every one of a name", "[http_codec]") {
  duet::http::Headers h;
  h.set("X-A", "1");  // absent: appended
  h.add("Via", "a");
  h.add("x-a", "2");
  h.add("VIA", "b");
  CHECK(h.size() == 4);
  CHECK(h.get("x-A") == "1");  // the first, names compared without case
  h.set("X-a", "3");           // every X-A gone, one at the end
  REQUIRE(h.size() == 3);
  std::vector<std::string> seen;
  for (const auto& f : h) seen.push_back(f.name + "=" + f.value);
  CHECK(seen == std::vector<std::string>{"Via=a", "VIA=b", "X-a=3"});
  CHECK(h.erase("via") == 2);
  CHECK(!h.contains("Via"));
  CHECK(h.get("X-A") == "3");
  std::string long_value(100, 'v');
  h.add(std::string(40, 'n'), long_value);  // past the strings' own room
  CHECK(h.get(std::string(40, 'N')) == long_value);
}

TEST_CASE("a CR, LF or NUL anywhere in a long field drops it, and other bytes pass",
          "[http_codec]") {
  // The check reads eight bytes at a time: a breaking byte at every place
  // of a word and of the tail, in the name and in the value.
  for (const char breaking : {'\r', '\n', '\0'}) {
    for (std::size_t len : {8u, 9u, 15u, 16u, 17u, 23u}) {
      for (std::size_t at = 0; at < len; ++at) {
        std::string bad(len, 'v');
        bad[at] = breaking;
        std::string name = "X-" + std::string(len, 'n');
        name[2 + at] = breaking;
        Response r = Response::empty(200);
        r.headers.add("X-Value", bad);
        r.headers.add(name, "1");
        std::string out;
        duet::http::write_response(out, r, Answering{});
        INFO("byte " << static_cast<int>(breaking) << " at " << at << " of " << len);
        CHECK(out.find("X-Value") == std::string::npos);
        CHECK(out.find("X-nn") == std::string::npos);
        CHECK(out.ends_with("\r\n\r\n"));
      }
    }
  }
  // Every other byte is the handler's to send: those below 14 but CR, LF
  // and NUL, a tab, and obs-text (128 and up), in a field longer than a
  // word.
  std::string kept;
  for (int c = 1; c < 256; ++c) {
    if (c != '\r' && c != '\n') kept.push_back(static_cast<char>(c));
  }
  Response r = Response::empty(200);
  r.headers.add("X-Kept", kept);
  std::string out;
  duet::http::write_response(out, r, Answering{});
  CHECK(out.find("X-Kept: " + kept + "\r\n") != std::string::npos);
}

TEST_CASE("write_error answers as the example server did", "[http_codec]") {
  std::string out;
  duet::http::write_error(out, 400);
  CHECK(without_date(out) ==
        "HTTP/1.1 400 Bad Request\r\nServer: duet\r\nDate: D\r\nContent-Type: text/plain\r\n"
        "Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n");
  out.clear();
  duet::http::write_error(out, 405, true, "GET, HEAD");
  CHECK(without_date(out) ==
        "HTTP/1.1 405 Method Not Allowed\r\nServer: duet\r\nDate: D\r\n"
        "Content-Type: text/plain\r\nContent-Length: 19\r\nAllow: GET, HEAD\r\n\r\n"
        "Method Not Allowed\n");
}

TEST_CASE("the Date field is today's IMF-fixdate", "[http_codec]") {
  std::string out;
  duet::http::write_response(out, Response::empty(200), Answering{});
  const auto at = out.find("Date: ");
  REQUIRE(at != std::string::npos);
  const std::string date = out.substr(at + 6, 29);
  char expect[40];
  const std::time_t now = std::time(nullptr);
  std::tm t{};
  gmtime_r(&now, &t);
  std::strftime(expect, sizeof expect, "%a, %d %b %Y", &t);
  CHECK(date.starts_with(expect));
  CHECK(date.ends_with(" GMT"));
}

TEST_CASE("ResponseDecoder reads every framing, whole and byte by byte", "[http_codec]") {
  const std::string cl = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello";
  const std::string chunked =
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
  const std::string none = "HTTP/1.1 204 No Content\r\n\r\n";
  const std::string nm = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
  const std::string stream = cl + chunked + none + nm;
  for (const std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
    INFO("piece " << piece);
    const Got g =
        client_decode(stream, {Method::get, Method::post, Method::get, Method::get}, piece);
    REQUIRE_FALSE(g.error);
    REQUIRE(g.responses.size() == 4);
    CHECK(g.responses[0].status == 200);
    CHECK(g.responses[0].body == "hello");
    CHECK(g.responses[0].headers.get("x") == "y");
    CHECK(g.responses[1].status == 201);
    CHECK(g.responses[1].body == "abc");
    CHECK(g.responses[2].status == 204);
    CHECK(g.responses[3].status == 304);
    CHECK(g.responses[3].body.empty());
    CHECK(g.reusable);
  }
}

TEST_CASE("ResponseDecoder: HEAD, interim 100, close-delimited, reuse", "[http_codec]") {
  // HEAD: the length is the GET's, no body follows.
  Got g = client_decode(
      "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHTTP/1.1 200 OK\r\n"
      "Content-Length: 2\r\n\r\nok",
      {Method::head, Method::get}, 1);
  REQUIRE(g.responses.size() == 2);
  CHECK(g.responses[0].body.empty());
  CHECK(g.responses[1].body == "ok");
  // 100 Continue (and 103) before the final response are skipped.
  g = client_decode(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
      {Method::post}, 3);
  REQUIRE(g.responses.size() == 1);
  CHECK(g.responses[0].status == 200);
  CHECK_FALSE(g.responses[0].headers.contains("Link"));
  CHECK(g.responses[0].body == "z");
  // No length: the body ends with the stream; the connection is not reusable.
  g = client_decode("HTTP/1.1 200 OK\r\n\r\nuntil the end", {Method::get}, 4, true);
  REQUIRE_FALSE(g.error);
  REQUIRE(g.responses.size() == 1);
  CHECK(g.responses[0].body == "until the end");
  CHECK_FALSE(g.reusable);
  // Connection: close, and HTTP/1.0 without keep-alive: not reusable.
  g = client_decode("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", {});
  REQUIRE(g.responses.size() == 1);
  CHECK_FALSE(g.reusable);
  g = client_decode("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", {});
  REQUIRE(g.responses.size() == 1);
  CHECK_FALSE(g.reusable);
  g = client_decode("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", {});
  CHECK(g.reusable);
}

TEST_CASE("ResponseDecoder refuses malformed, cut short and oversized responses", "[http_codec]") {
  CHECK(client_decode("HTTP/1.1 2000 OK\r\n\r\n", {}).error);
  CHECK(client_decode("HTTX/1.1 200 OK\r\n\r\n", {}).error);
  CHECK(client_decode("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", {}).error);
  CHECK(client_decode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", {}).error);
  Got g = client_decode("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", {}, 0, true);
  CHECK(g.error);
  CHECK(g.error_text == "response cut short");
  g = client_decode("HTTP/1.1 200 O", {}, 0, true);
  CHECK(g.error);
  g = client_decode("", {}, 0, true);
  CHECK(g.error);
  CHECK(g.error_text == "the peer closed before a response");
  Limits l;
  l.max_body_bytes = 10;
  l.max_header_bytes = 100;
  g = client_decode("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n01234567890", {}, 0, false, l);
  CHECK(g.error);
  CHECK_FALSE(g.error_text.empty());
  g = client_decode("HTTP/1.1 200 OK\r\nX: " + std::string(200, 'a') + "\r\n\r\n", {}, 1, false, l);
  CHECK(g.error);
  CHECK_FALSE(g.error_text.empty());
}

TEST_CASE("write_request -> RequestDecoder round trip", "[http_codec]") {
  Request r = Request::make(Method::post, "/submit?x=1", "payload");
  r.headers.add("X-Trace", "abc");
  r.headers.add("Content-Length", "999");  // replaced by the body's
  std::string out;
  duet::http::write_request(out, r, "example.com");
  CHECK(out ==
        "POST /submit?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Trace: abc\r\n"
        "Content-Length: 7\r\n\r\npayload");
  const auto d = http_codec_test::decode_every_split(out);
  REQUIRE(d.requests.size() == 1);
  const Request& back = d.requests[0];
  CHECK(back.method == Method::post);
  CHECK(back.target == "/submit?x=1");
  CHECK(back.headers.get("Host") == "example.com");
  CHECK(back.headers.get("X-Trace") == "abc");
  CHECK(back.body == "payload");
  // An empty POST says Content-Length: 0; a GET says nothing; a set Host stays.
  out.clear();
  duet::http::write_request(out, Request::make(Method::put, "/e"), "h");
  CHECK(out == "PUT /e HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  out.clear();
  Request g = Request::make(Method::get, "/g");
  g.headers.add("Host", "mine");
  duet::http::write_request(out, g, "h");
  CHECK(out == "GET /g HTTP/1.1\r\nHost: mine\r\n\r\n");
}

TEST_CASE("write_response -> ResponseDecoder round trip", "[http_codec]") {
  std::string out;
  Response r = Response::json(200, R"({"a":1})");
  r.headers.add("X-Id", "7");
  duet::http::write_response(out, r, Answering{});
  duet::http::write_error(out, 404, true);
  duet::http::write_response(out, Response::text(200, "last"),
                             Answering{.head = false, .version = 11, .close = true});
  const Got g = client_decode(out, {Method::get, Method::get, Method::get}, 5);
  REQUIRE_FALSE(g.error);
  REQUIRE(g.responses.size() == 3);
  CHECK(g.responses[0].body == R"({"a":1})");
  CHECK(g.responses[0].headers.get("X-Id") == "7");
  CHECK(g.responses[0].headers.get("Server") == "duet");
  CHECK(g.responses[1].status == 404);
  CHECK(g.responses[1].body == "Not Found\n");
  CHECK(g.responses[2].body == "last");
  CHECK_FALSE(g.reusable);
}

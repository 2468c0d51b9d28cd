// body_writer_test.cpp: the writer of a response body from a source
// (drivers/http/src/body_writer.hpp), the one the three engines and the
// client share, over a stream that only records its writes: pieces ready
// at once leave with the head in one write (a proxied body that came with
// its head), a piece the source waits for never holds the head back, and
// what is gathered before a write is bounded.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <duet/duet.hpp>
#include <duet/http.hpp>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../drivers/http/src/body_writer.hpp"  // private: the writer
#include "server_fixture.hpp"

namespace body_writer_test {

using duet::http::BodySource;

/// A stream whose every write completes at once, each recorded whole.
struct Recorded {
  struct Write {
    std::size_t n;
    duet::Poll<duet::io::Transferred> poll(duet::Context&) { return duet::io::Transferred{n, {}}; }
  };
  Write write_all(std::span<const std::byte> b) {
    writes.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
    return Write{b.size()};
  }
  std::vector<std::string> writes;
};

/// A source of `pieces`, each ready at once, then the end.
std::shared_ptr<BodySource> ready_pieces(std::vector<std::string> pieces,
                                         std::optional<std::size_t> length) {
  auto left = std::make_shared<std::vector<std::string>>(std::move(pieces));
  auto src = std::make_shared<BodySource>();
  src->next = [left]() -> duet::Task<duet::Result<std::string>> {
    if (left->empty()) co_return std::string();
    std::string p = std::move(left->front());
    left->erase(left->begin());
    co_return p;
  };
  src->length = length;
  return src;
}

/// A source that throws at its first piece, and one that fails.
std::shared_ptr<BodySource> throwing_source() {
  auto src = std::make_shared<BodySource>();
  src->next = []() -> duet::Task<duet::Result<std::string>> { throw std::runtime_error("source"); };
  return src;
}
std::shared_ptr<BodySource> failing_source() {
  auto src = std::make_shared<BodySource>();
  src->next = []() -> duet::Task<duet::Result<std::string>> {
    co_return std::make_error_code(std::errc::connection_reset);
  };
  return src;
}

}  // namespace body_writer_test

namespace bwt = body_writer_test;
using bwt::Recorded;
using duet::http::BodyFraming;
using duet::http::BodySource;
using duet::http::detail::BodyToWrite;
using duet::http::detail::write_body;
using namespace std::chrono_literals;

TEST_CASE("body writer: pieces ready at once leave with the head in one write", "[http_server]") {
  http_server_test::on_one_worker([]() -> duet::Task<void> {
    Recorded s;
    std::string out = "HEAD|";
    const BodyToWrite b{bwt::ready_pieces({"ab", "cd"}, 4), BodyFraming::length};
    const bool ok = co_await write_body(s, out, b, 1s);
    REQUIRE(ok);
    // Nothing written yet: the head and the whole body are the engine's
    // next write.
    CHECK(s.writes.empty());
    CHECK(out == "HEAD|abcd");

    std::string chunked = "HEAD|";
    const BodyToWrite c{bwt::ready_pieces({"ab", "cd"}, std::nullopt), BodyFraming::chunked};
    const bool ok_chunked = co_await write_body(s, chunked, c, 1s);
    REQUIRE(ok_chunked);
    CHECK(s.writes.empty());
    CHECK(chunked == "HEAD|2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n");
  });
}

TEST_CASE("body writer: the head leaves before a piece the source waits for", "[http_server]") {
  http_server_test::on_one_worker([]() -> duet::Task<void> {
    Recorded s;
    std::string out = "HEAD|";
    duet::CancellationToken gate;
    auto calls = std::make_shared<int>(0);
    auto src = std::make_shared<BodySource>();
    src->next = [gate, calls]() -> duet::Task<duet::Result<std::string>> {
      if (++*calls > 1) co_return std::string();
      co_await gate.cancelled();
      co_return std::string("late");
    };
    src->length = 4;
    const BodyToWrite b{src, BodyFraming::length};
    auto h = duet::spawn(write_body(s, out, b, 1s));
    while (s.writes.empty()) co_await duet::yield_now();
    CHECK(s.writes == std::vector<std::string>{"HEAD|"});
    gate.cancel();
    const bool ok = co_await h;
    CHECK(ok);
    CHECK(s.writes.size() == 1);
    CHECK(out == "late");
  });
}

TEST_CASE("body writer: what is gathered before a write stays bounded", "[http_server]") {
  http_server_test::on_one_worker([]() -> duet::Task<void> {
    Recorded s;
    std::string out = "HEAD|";
    const std::size_t piece = 4096;
    std::vector<std::string> pieces(32, std::string(piece, 'x'));  // 128 KiB, all ready
    const BodyToWrite b{bwt::ready_pieces(std::move(pieces), 32 * piece), BodyFraming::length};
    const bool ok = co_await write_body(s, out, b, 1s);
    REQUIRE(ok);
    std::size_t total = out.size();
    for (const std::string& w : s.writes) {
      CHECK(w.size() <= duet::http::detail::kGatherBytes + piece);
      total += w.size();
    }
    CHECK(s.writes.size() >= 7);
    CHECK(total == 5 + 32 * piece);
  });
}

TEST_CASE("body writer: a source that throws or fails ends the body", "[http_server]") {
  http_server_test::on_one_worker([]() -> duet::Task<void> {
    Recorded s;
    const BodyToWrite throws{bwt::throwing_source(), BodyFraming::chunked};
    const BodyToWrite fails{bwt::failing_source(), BodyFraming::chunked};
    const BodyToWrite over{bwt::ready_pieces({"abc"}, 2), BodyFraming::length};  // past its length
    std::string out = "HEAD|";
    const bool threw = co_await write_body(s, out, throws, 1s);
    CHECK_FALSE(threw);
    out = "HEAD|";
    const bool failed = co_await write_body(s, out, fails, 1s);
    CHECK_FALSE(failed);
    out = "HEAD|";
    const bool past = co_await write_body(s, out, over, 1s);
    CHECK_FALSE(past);
  });
}

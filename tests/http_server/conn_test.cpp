// conn_test.cpp: the connection machine (drivers/http/src/conn.hpp) with no
// socket: each case plays an engine's part, feeding the machine bytes and
// events and doing what next() says against a stream that only records,
// and checks the bytes the machine would send and the step it asks for.
// Handlers run on a one-worker runtime (a handler's turn is a future; a
// plain handler's fiber is spawned), which no case gives a socket. No
// co_await inside a CHECK: GCC 12 evaluates it again in the macro's
// unevaluated copy of the expression.
#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <duet/duet.hpp>
#include <duet/http.hpp>
#include <duet/stackful.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../drivers/http/src/conn.hpp"  // private: the machine
#include "server_fixture.hpp"

namespace conn_test {

using namespace std::chrono_literals;
using duet::http::Request;
using duet::http::Response;
using duet::http::detail::Conn;
using duet::http::detail::Next;
using duet::http::detail::StreamRef;

/// The stream the machine reaches only through a handler's turn (and a
/// streamed body's reads, which no case here makes): it records what is
/// written and, at each write, calls `on_write`.
struct Recorder {
  std::string written;
  int writes = 0;
  duet::CancellationToken on_write;  // cancelled at the first write
};

StreamRef stream_of(Recorder& r) {
  static constexpr StreamRef::Ops ops{
      .read = [](void*, std::span<std::byte>, duet::Instant)
          -> duet::Task<duet::Result<std::size_t>> { co_return std::errc::not_supported; },
      .write = [](void* p, std::span<const std::byte> out, duet::Instant) -> duet::Task<bool> {
        auto& rec = *static_cast<Recorder*>(p);
        rec.written.append(reinterpret_cast<const char*>(out.data()), out.size());
        ++rec.writes;
        rec.on_write.cancel();
        co_return true;
      }};
  return StreamRef{&r, &ops};
}

/// Routes in both models: /h (coroutine), /h-plain and /p answer "hi"; /throw
/// and /throw-plain throw; /cancel and /cancel-plain throw duet::Cancelled;
/// /gate waits for `gate`; /big answers 40,000 bytes.
duet::http::Router conn_routes(const duet::CancellationToken& gate) {
  duet::http::Router r;
  r.get("/h", [](Request&) -> duet::Task<Response> { co_return Response::text(200, "hi"); });
  r.get("/h-plain", [](Request&) { return Response::text(200, "hi"); });
  r.get("/p", [](Request&) { return Response::text(200, "hi"); });  // two fit one first read
  r.get("/throw", [](Request&) -> duet::Task<Response> {
    throw std::runtime_error("handler failed");
    co_return Response::empty(200);
  });
  r.get("/throw-plain", [](Request&) -> Response { throw std::runtime_error("handler failed"); });
  r.get("/cancel", [](Request&) -> duet::Task<Response> {
    throw duet::Cancelled();
    co_return Response::empty(200);
  });
  r.get("/cancel-plain", [](Request&) -> Response { throw duet::Cancelled(); });
  r.get("/gate", [gate](Request&) -> duet::Task<Response> {
    co_await gate.cancelled();
    co_return Response::text(200, "gate");
  });
  r.get("/big", [](Request&) -> duet::Task<Response> {
    co_return Response::text(200, std::string(40000, 'b'));
  });
  return r;
}

inline std::string get_req(std::string_view path, std::string_view extra = {}) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

/// One machine over a Recorder, the engine's part played by run().
struct Machine {
  explicit Machine(duet::http::ServerConfig o = {}, bool lingers = true,
                   Conn::Plain plain = Conn::Plain::spawned)
      : st(conn_routes(gate), std::move(o)), m(duet::http::detail::OpenSlot(&st), lingers, plain) {
    st.open = 1;  // the slot's count, given back by the machine
  }

  /// One read of `bytes` (the machine asked for a read).
  void feed(const std::string& bytes) {
    REQUIRE(m.next(stream_of(rec)) == Next::read);
    REQUIRE(bytes.size() <= m.read_into().size());
    std::memcpy(m.read_into().data(), bytes.data(), bytes.size());
    m.read_done(bytes.size());
  }

  /// Feeds `input` as reads (each as large as the machine offers) and does
  /// every other step, until the machine asks for a read with no input
  /// left, or closes. Writes go to `sent`, each followed by '|';
  /// "<shutdown>" and "<close>" mark those steps.
  duet::Task<Next> run(std::string input) {
    for (;;) {
      const Next n = m.next(stream_of(rec));
      switch (n) {
        case Next::read: {
          if (input.empty()) co_return n;
          const std::span<std::byte> into = m.read_into();
          reads.push_back(into.size());
          const std::size_t k = std::min(into.size(), input.size());
          std::memcpy(into.data(), input.data(), k);
          input.erase(0, k);
          m.read_done(k);
          break;
        }
        case Next::write: {
          const auto out = m.output();
          sent.append(reinterpret_cast<const char*>(out.data()), out.size());
          sent += '|';
          m.written(true);
          break;
        }
        case Next::handle:
          co_await Conn::Turn(m, stream_of(rec));
          break;
        case Next::call:
          m.call_plain();
          break;
        case Next::write_body:
          m.body_written(false);
          break;
        case Next::shutdown:
          sent += "<shutdown>";
          m.shut();
          break;
        case Next::close:
          sent += "<close>";
          co_return n;
        case Next::h2:
          sent += "<h2>";
          co_return n;
      }
    }
  }

  duet::CancellationToken gate;
  duet::http::detail::State st;
  Conn m;
  Recorder rec;
  std::string sent;
  std::vector<std::size_t> reads;  // the size of each read offered
};

using http_server_test::on_one_worker;

std::size_t occurrences(std::string_view s, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string_view::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace conn_test

using namespace conn_test;

TEST_CASE("conn: an idle connection reads into the machine's 64 bytes by the head's deadline",
          "[http_server]") {
  duet::http::ServerConfig o;
  o.limits.io_timeout = 1000ms;
  Machine x(o);
  const auto before = duet::Clock::now();
  REQUIRE(x.m.next(stream_of(x.rec)) == Next::read);
  CHECK(x.m.idle());
  CHECK(x.m.read_into().size() == duet::http::detail::kFirstRead);
  CHECK(duet::http::detail::kFirstRead == 64);
  CHECK(x.m.deadline() >= before + 1000ms);
  CHECK(x.m.deadline() <= duet::Clock::now() + 1000ms);
}

TEST_CASE("conn: the deprecated Limits::read_timeout, when set, is the io_timeout",
          "[http_server]") {
  duet::http::ServerConfig o;
  o.limits.io_timeout = std::chrono::hours(1);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  o.limits.read_timeout = 1000ms;  // the name before 0.4
#pragma GCC diagnostic pop
  Machine x(o);
  const auto before = duet::Clock::now();
  REQUIRE(x.m.next(stream_of(x.rec)) == Next::read);
  CHECK(x.m.deadline() >= before + 1000ms);
  CHECK(x.m.deadline() <= duet::Clock::now() + 1000ms);
}

TEST_CASE("conn: an I/O timeout past the clock's range is no deadline", "[http_server]") {
  for (const auto huge :
       {std::chrono::milliseconds::max(), std::chrono::milliseconds(INT64_MAX / 2)}) {
    duet::http::ServerConfig o;
    o.limits.io_timeout = huge;
    Machine x(o);
    REQUIRE(x.m.next(stream_of(x.rec)) == Next::read);
    // Saturated: later than any deadline a real timeout gives, never in the past.
    CHECK(x.m.deadline() > duet::Clock::now() + std::chrono::hours(24 * 365));
  }
}

TEST_CASE(
    "conn: an in-place handler after an unwritten answer runs at once and the answers go out "
    "together",
    "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    Machine x({}, true, Conn::Plain::in_place);
    x.feed(get_req("/p") + get_req("/p"));
    REQUIRE(x.m.next(stream_of(x.rec)) == Next::call);
    CHECK_FALSE(x.m.writes_while_pending());
    x.m.call_plain();
    // The second handler is called in place too, with the first answer
    // waiting: the engine arms its before-park step with it.
    REQUIRE(x.m.next(stream_of(x.rec)) == Next::call);
    CHECK(x.m.writes_while_pending());
    x.m.call_plain();
    REQUIRE(x.m.next(stream_of(x.rec)) == Next::write);
    CHECK(occurrences(
              std::string(reinterpret_cast<const char*>(x.m.output().data()), x.m.output().size()),
              "HTTP/1.1 200 OK") == 2);
    co_return;
  });
}

TEST_CASE("conn: answers written while an in-place handler waits are not written again",
          "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    Machine x({}, true, Conn::Plain::in_place);
    x.feed(get_req("/p") + get_req("/p"));
    REQUIRE(x.m.next(stream_of(x.rec)) == Next::call);
    x.m.call_plain();
    REQUIRE(x.m.next(stream_of(x.rec)) == Next::call);
    // What the fiber engine's before-park step does when the handler waits.
    const bool ok = co_await x.m.write_pending(stream_of(x.rec));
    x.m.written(ok);
    CHECK_FALSE(x.m.writes_while_pending());
    x.m.call_plain();
    REQUIRE(x.m.next(stream_of(x.rec)) == Next::write);
    CHECK(occurrences(
              std::string(reinterpret_cast<const char*>(x.m.output().data()), x.m.output().size()),
              "HTTP/1.1 200 OK") == 1);
    co_return;
  });
}

TEST_CASE("conn: a request is answered in one write and the connection waits idle again",
          "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    for (const char* path : {"/h", "/h-plain"}) {
      Machine x;
      const Next end = co_await x.run(get_req(path));
      CHECK(end == Next::read);
      CHECK(x.sent.starts_with("HTTP/1.1 200 OK\r\n"));
      CHECK(x.sent.ends_with("\r\n\r\nhi|"));
      CHECK(occurrences(x.sent, "|") == 1);
      CHECK(x.m.idle());
      CHECK(x.st.requests.load() == 1);
    }
  });
}

TEST_CASE("conn: a plain handler runs in place under the fiber engine's machine", "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    Machine x({}, true, Conn::Plain::in_place);
    x.feed(get_req("/h-plain"));
    CHECK(x.m.next(stream_of(x.rec)) == Next::call);
    x.m.call_plain();
    CHECK(x.m.next(stream_of(x.rec)) == Next::write);
    co_return;
  });
}

TEST_CASE("conn: pipelined requests of one read are answered in one write, in order",
          "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    Machine x;
    // Both fit the first read (64 bytes).
    const Next end = co_await x.run(get_req("/h") + get_req("/nope"));
    CHECK(end == Next::read);
    CHECK(x.reads.size() == 1);
    CHECK(occurrences(x.sent, "|") == 1);
    CHECK(x.sent.find("200 OK") < x.sent.find("404"));
    CHECK(x.st.requests.load() == 2);
  });
}

TEST_CASE("conn: a read that fills the small buffer takes the large one from the next read",
          "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    Machine x;
    std::string big = get_req("/h", "X-Pad: " + std::string(3000, 'p') + "\r\n");
    const Next end = co_await x.run(big);
    CHECK(end == Next::read);
    REQUIRE(x.reads.size() >= 3);
    CHECK(x.reads[0] == duet::http::detail::kFirstRead);
    CHECK(x.reads[1] == duet::http::detail::kReadBufferSmall);
    CHECK(x.reads[2] == duet::http::detail::kReadBuffer);
    CHECK(x.sent.ends_with("hi|"));
  });
}

TEST_CASE("conn: answers past 64 KiB are written before more pipelined requests are decoded",
          "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    Machine x;
    const Next end = co_await x.run(get_req("/big") + get_req("/big") + get_req("/h"));
    CHECK(end == Next::read);
    // The two 40,000-byte answers pass kFlushAt: written before /h's.
    CHECK(occurrences(x.sent, "|") == 2);
    const std::size_t first = x.sent.find('|');
    CHECK(first > duet::http::detail::kFlushAt);
    CHECK(x.sent.find("hi", first) != std::string::npos);
  });
}

TEST_CASE("conn: answers made are written while a later handler is pending", "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    Machine x;
    x.rec.on_write = x.gate;  // the gate opens once the first answer is written
    const Next end = co_await x.run(get_req("/h") + get_req("/gate"));
    CHECK(end == Next::read);
    // /h's answer went out through the turn, while /gate waited.
    CHECK(x.rec.writes == 1);
    CHECK(x.rec.written.ends_with("\r\n\r\nhi"));
    CHECK(x.sent.ends_with("\r\n\r\ngate|"));
    CHECK(x.sent.find("hi") == std::string::npos);
  });
}

TEST_CASE("conn: a plain handler that does not wait costs no write of its own", "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    Machine x;
    // Both fit the first read: /h-plain's fiber gets a turn before the
    // turn would write /h's answer, finishes, and both go in one write.
    const Next end = co_await x.run(get_req("/h") + get_req("/h-plain"));
    CHECK(end == Next::read);
    CHECK(x.reads.size() == 1);
    CHECK(x.rec.writes == 0);
    CHECK(occurrences(x.sent, "|") == 1);
    CHECK(occurrences(x.sent, "200 OK") == 2);
  });
}

TEST_CASE("conn: Connection close is answered, then a TCP connection lingers and TLS closes",
          "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    {
      Machine x;
      const Next end = co_await x.run(get_req("/h", "Connection: close\r\n") + get_req("/h"));
      CHECK(end == Next::read);
      CHECK(x.sent.find("Connection: close") != std::string::npos);
      CHECK(x.sent.ends_with("hi|<shutdown>"));
      CHECK_FALSE(x.m.idle());  // lingering: what comes is dropped
      CHECK(x.st.requests.load() == 1);
      x.m.read_done(std::size_t{5});
      CHECK(x.m.next(stream_of(x.rec)) == Next::read);
      x.m.read_done(std::size_t{0});
      CHECK(x.m.next(stream_of(x.rec)) == Next::close);
    }
    {
      Machine x({}, false);
      const Next end = co_await x.run(get_req("/h", "Connection: close\r\n"));
      CHECK(end == Next::close);
      CHECK(x.sent.ends_with("hi|<close>"));
    }
  });
}

TEST_CASE("conn: a request the decoder refuses is answered 400 and closes", "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    Machine x;
    const Next end = co_await x.run("NOT HTTP AT ALL\r\n\r\n" + get_req("/h"));
    CHECK(end == Next::read);
    CHECK(x.sent.starts_with("HTTP/1.1 400"));
    CHECK(x.sent.ends_with("|<shutdown>"));
    CHECK(x.sent.find("hi") == std::string::npos);
  });
}

TEST_CASE("conn: a deadline or the peer's end closes without an answer", "[http_server]") {
  for (const duet::Result<std::size_t> r :
       {duet::Result<std::size_t>(std::errc::timed_out), duet::Result<std::size_t>(std::size_t{0}),
        duet::Result<std::size_t>(std::errc::connection_reset)}) {
    Machine x;
    REQUIRE(x.m.next(stream_of(x.rec)) == Next::read);
    x.m.read_done(r);
    CHECK(x.m.next(stream_of(x.rec)) == Next::close);
  }
  // Inside a head too: what was read of it is dropped.
  Machine x;
  x.feed("GET /h HTTP/1.1\r\n");
  REQUIRE(x.m.next(stream_of(x.rec)) == Next::read);
  CHECK_FALSE(x.m.idle());
  x.m.read_done(std::errc::timed_out);
  CHECK(x.m.next(stream_of(x.rec)) == Next::close);
}

TEST_CASE("conn: the drain closes an idle connection and answers one in flight with close",
          "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    {
      Machine x;
      REQUIRE(x.m.next(stream_of(x.rec)) == Next::read);
      REQUIRE(x.m.idle());
      x.m.drained();
      CHECK(x.m.next(stream_of(x.rec)) == Next::close);
    }
    {
      Machine x;  // the drain begins once the request is read
      x.feed(get_req("/h"));
      x.st.shutdown.cancel();
      const Next end = co_await x.run("");
      CHECK(end == Next::read);
      CHECK(x.sent.find("Connection: close") != std::string::npos);
      CHECK(x.sent.ends_with("hi|<shutdown>"));
    }
    {
      Machine x;  // a drain that began before: the idle connection does not read
      x.st.shutdown.cancel();
      CHECK(x.m.next(stream_of(x.rec)) == Next::close);
    }
  });
}

TEST_CASE("conn: a throwing handler gets 500 and the connection goes on", "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    for (const Conn::Plain plain : {Conn::Plain::spawned, Conn::Plain::in_place}) {
      Machine x({}, true, plain);
      const Next end = co_await x.run(get_req("/throw") + get_req("/throw-plain") + get_req("/h"));
      CHECK(end == Next::read);
      CHECK(occurrences(x.sent, "500 Internal Server Error") == 2);
      CHECK(x.sent.find("Connection: close") == std::string::npos);
      CHECK(x.sent.ends_with("hi|"));
    }
  });
}

TEST_CASE("conn: a cancelled handler gets 503 with Connection close", "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    for (const Conn::Plain plain : {Conn::Plain::spawned, Conn::Plain::in_place}) {
      for (const char* path : {"/cancel", "/cancel-plain"}) {
        INFO(path);
        Machine x({}, true, plain);
        const Next end = co_await x.run(get_req(path) + get_req("/h"));
        CHECK(end == Next::read);
        CHECK(x.sent.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        CHECK(x.sent.find("Connection: close") != std::string::npos);
        CHECK(x.sent.ends_with("|<shutdown>"));
        CHECK(x.sent.find("hi") == std::string::npos);
      }
    }
  });
}

TEST_CASE("conn: the cap on requests per connection closes after the last", "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    duet::http::ServerConfig o;
    o.max_requests_per_connection = 2;
    Machine x(o);
    const Next end = co_await x.run(get_req("/h") + get_req("/h-plain") + get_req("/h"));
    CHECK(end == Next::read);
    // The first answer went out while the second's fiber ran (the turn's
    // write), the second with the machine's own.
    const std::string all = x.rec.written + x.sent;
    CHECK(occurrences(all, "200 OK") == 2);
    CHECK(occurrences(all, "Connection: close") == 1);
    CHECK(x.sent.ends_with("|<shutdown>"));
  });
}

namespace conn_test {

/// Runs `x` through `request` up to its answer's write, which it leaves
/// pending: the machine holds its request block until then.
duet::Task<void> up_to_write(Machine& x, const std::string& request) {
  x.feed(request);
  for (;;) {
    const Next n = x.m.next(stream_of(x.rec));
    if (n == Next::write) co_return;
    REQUIRE(n == Next::handle);
    co_await Conn::Turn(x.m, stream_of(x.rec));
  }
}

/// The pending write done: the machine goes idle and leaves its block.
void finish_write(Machine& x) {
  x.m.written(true);
  REQUIRE(x.m.next(stream_of(x.rec)) == Next::read);
  REQUIRE(x.m.idle());
}

std::vector<std::unique_ptr<Machine>> machines(std::size_t n) {
  std::vector<std::unique_ptr<Machine>> xs;
  for (std::size_t i = 0; i < n; ++i) xs.push_back(std::make_unique<Machine>());
  return xs;
}

}  // namespace conn_test

TEST_CASE(
    "conn: connections that go idle together leave their blocks to the thread, up to the count",
    "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    // More connections than the thread keeps blocks for, each holding its
    // block (its answer not yet written) while the others are answered:
    // what a tick of many connections does.
    auto xs = machines(Conn::kSpareBlocks + 6);
    for (auto& x : xs) co_await up_to_write(*x, get_req("/h"));
    CHECK(Conn::spares().blocks == 0);
    for (auto& x : xs) finish_write(*x);
    const Conn::Spares left = Conn::spares();
    CHECK(left.blocks == Conn::kSpareBlocks);
    CHECK(left.bytes <= Conn::kSpareBytes);
    CHECK(left.bytes > 0);
    // The next requests take them back, room and all.
    for (std::size_t i = 0; i < Conn::kSpareBlocks; ++i)
      co_await up_to_write(*xs[i], get_req("/h"));
    CHECK(Conn::spares().blocks == 0);
    CHECK(Conn::spares().bytes == 0);
    for (auto& x : xs) {
      if (!x->m.idle()) finish_write(*x);
    }
    CHECK(Conn::spares().blocks == Conn::kSpareBlocks);
    for (auto& x : xs) CHECK(x->st.requests.load() >= 1);
  });
}

TEST_CASE("conn: blocks grown by large answers are kept up to the bytes' bound", "[http_server]") {
  on_one_worker([]() -> duet::Task<void> {
    // /big's 40,000-byte answer keeps its room in the block (it is under
    // buffered_body_bytes), so a handful of such blocks fill the bound.
    constexpr std::size_t kBig = 40000;
    auto xs = machines(Conn::kSpareBytes / kBig + 2);
    for (auto& x : xs) co_await up_to_write(*x, get_req("/big"));
    for (auto& x : xs) finish_write(*x);
    const Conn::Spares left = Conn::spares();
    CHECK(left.bytes <= Conn::kSpareBytes);
    CHECK(left.blocks < xs.size());
    CHECK(left.blocks >= 1);
    // Full: the next such block would not have fit.
    CHECK(left.bytes + kBig > Conn::kSpareBytes);
  });
}

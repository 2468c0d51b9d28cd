// turn_test.cpp: a streamed request body belongs to its handler's turn
// (duet/http/body.hpp). A handler that moves its Request into a task that
// reads the body after the handler returned is a bug the server names: a
// checked build (DUET_CHECK_TRANSITIONS) aborts with "a request body read
// after its handler's turn"; an unchecked one refuses the read with
// operation_not_permitted. The misuse runs in a child: this test binary
// started again on a hidden case ([.]: never run by a plain run, nor
// declared to the ledger: respawn.hpp), whose stderr and end the parent
// reads, with a bound that turns a hang into a failure.

#include <atomic>
#include <catch2/catch.hpp>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "respawn.hpp"
#include "server_fixture.hpp"

namespace {

constexpr const char* kChildCase = "turn child: a streamed body read after its handler's turn";
constexpr const char* kMessage = "duet::http: a request body read after its handler's turn";

/// The misuse: waits for the test's go, then reads the moved request's body.
duet::Task<void> read_later(duet::http::Request req, duet::Channel<int> go, std::atomic<int>* got) {
  (void)co_await go.recv();
  duet::Result<std::string> piece = co_await duet::http::read_body_piece(req);
  got->store(piece ? 0 : piece.error().value());
}

}  // namespace

TEST_CASE("stream: a body read after its handler's turn is named and refused",
          "[http_server][stream]") {
  const duet::test::ChildEnd end = duet::test::run_child(kChildCase, 60000);
  INFO(end.err);
  if constexpr (DUET_CHECK_TRANSITIONS != 0) {
    CHECK(end.signaled);
    CHECK(end.signal == SIGABRT);
    CHECK(end.err.find(kMessage) != std::string::npos);
  } else {
    CHECK(end.exited);
    CHECK(end.code == 0);  // the child's own checks passed: the read was refused
  }
}

TEST_CASE("turn child: a streamed body read after its handler's turn", "[.]") {
  // The checked build's abort ends the child by its signal: Catch's own
  // handler (which allocates, and TSan reports that) is taken out.
  std::signal(SIGABRT, SIG_DFL);
  auto rt = duet::iotest::make_rt(duet::IoDriver::epoll, 1);
  auto go = duet::Channel<int>::bounded(1);
  std::atomic<int> got{-1};
  duet::http::Router routes;
  routes.post("/keep", [&](duet::http::Request& req) -> duet::Task<duet::http::Response> {
    // One piece of the body, then the rest left to a task that outlives
    // the turn: the bug this case plants.
    duet::Result<std::string> first = co_await duet::http::read_body_piece(req);
    if (!first) co_return duet::http::Response::text(400, "body");
    duet::spawn(read_later(std::move(req), go, &got));
    co_return duet::http::Response::text(200, "kept");
  });
  duet::http::Server server(std::move(routes), {});
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
  REQUIRE(l);
  const std::uint16_t port = l->local_addr()->port();
  server.serve(*rt, std::move(*l));
  // A body past Limits::buffered_body_bytes: streamed.
  const std::string body(100 * 1024, 'b');
  http_server_test::Client c(port);
  c.send("POST /keep HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body);
  const http_test::Response answer = c.response();
  REQUIRE(answer.status == 200);
  // The body was left unread, so the server closes after its answer, first
  // waiting for this client's close (the lingering close): the connection,
  // and its body's pump, are still there when the moved request reads.
  REQUIRE(duet::wait(go.send(1)));
  for (int i = 0; i < 10000 && got.load() < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling observable state
  }
  // A checked build aborted above; an unchecked one refused the read.
  CHECK(got.load() == static_cast<int>(std::errc::operation_not_permitted));
}

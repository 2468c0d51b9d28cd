// turn_test.cpp: a streamed request body belongs to its handler's turn
// (duet/http/body.hpp). A handler that moves its Request into a task that
// reads the body after the handler returned is a bug the server names: a
// checked build (DUET_CHECK_TRANSITIONS) aborts with "a request body read
// after its handler's turn"; an unchecked one refuses the read with
// operation_not_permitted. The misuse runs in a child: this test binary
// started again on a hidden case ([.]: never run by a plain run, nor
// declared to the ledger), whose stderr and end the parent reads, with a
// bound that turns a hang into a failure.
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.hpp"

extern char** environ;

namespace {

constexpr const char* kChildCase = "turn child: a streamed body read after its handler's turn";
constexpr const char* kMessage = "duet::http: a request body read after its handler's turn";

struct ChildEnd {
  bool exited = false, signaled = false;
  int code = -1, signal = 0;
  std::string err;
};

/// Runs this binary on the hidden case with stderr captured; killed after
/// `limit_ms` (then neither exited nor signaled by itself).
ChildEnd run_child(int limit_ms) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "DUET_TEST_LEDGER=", 17) != 0) env.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string name = kChildCase;
  char* argv[] = {exe.data(), name.data(), nullptr};
  int fds[2];
  ChildEnd end;
  if (::pipe2(fds, O_CLOEXEC) != 0) return end;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return end;
  }
  char buf[4096];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, limit_ms) <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    end.err.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  end.exited = WIFEXITED(status);
  end.code = end.exited ? WEXITSTATUS(status) : -1;
  end.signaled = WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL;
  end.signal = end.signaled ? WTERMSIG(status) : 0;
  return end;
}

/// The misuse: waits for the test's go, then reads the moved request's body.
duet::Task<void> read_later(duet::http::Request req, duet::Channel<int> go, std::atomic<int>* got) {
  (void)co_await go.recv();
  duet::io::Result<std::string> piece = co_await duet::http::read_body_piece(req);
  got->store(piece ? 0 : piece.error().value());
}

}  // namespace

TEST_CASE("stream: a body read after its handler's turn is named and refused",
          "[http_server][stream]") {
  const ChildEnd end = run_child(60000);
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
    duet::io::Result<std::string> first = co_await duet::http::read_body_piece(req);
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

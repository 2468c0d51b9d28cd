// server_fixture.hpp: what the duet::http server tests run around it: a
// blocking loopback client that sends raw bytes and reads whole responses,
// and a Server with test routes on a Runtime of a chosen engine, driver and
// clock.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <duet/http.hpp>
#include <duet/stackful.hpp>
#include <duet/tls/stream.hpp>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "io_util.hpp"

namespace http_server_test {

using namespace std::chrono_literals;

/// One response as read: its status, head (status line and fields) and body.
struct Reply {
  int status = 0;
  std::string head;
  std::string body;
  /// The value of `name` in the head (case-insensitive name), or "".
  [[nodiscard]] std::string field(std::string_view name) const {
    std::string lower_head = head, key = "\r\n" + std::string(name) + ": ";
    for (auto& ch : lower_head)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const auto at = lower_head.find(key);
    if (at == std::string::npos) return {};
    const auto from = at + key.size();
    return head.substr(from, head.find("\r\n", from) - from);
  }
};

/// A blocking client on 127.0.0.1; every receive gives up after 10 s, so
/// a server that never answers fails the test instead of hanging it.
class Client {
 public:
  explicit Client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval tv{10, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    }
  }

  void send(std::string_view s) {
    while (!s.empty()) {
      const auto n = ::send(fd_.get(), s.data(), s.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// The next response (HEAD: `head_only`, no body is read).
  Reply response(bool head_only = false) {
    Reply r;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) throw std::runtime_error("closed before a response head: " + buf_);
    }
    r.head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    r.status = std::atoi(r.head.c_str() + 9);
    const std::string len = r.field("Content-Length");
    const std::size_t n = head_only || len.empty() ? 0 : std::stoul(len);
    while (buf_.size() < n) {
      if (!fill()) throw std::runtime_error("closed inside a body");
    }
    r.body = buf_.substr(0, n);
    buf_.erase(0, n);
    return r;
  }

  /// True when the server closed (end of stream or a reset) and nothing
  /// else arrived before.
  bool closed() {
    if (!buf_.empty()) return false;
    char c;
    const auto n = recv_retrying(&c, 1);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  /// Waits up to `ms` for the server to close or send something.
  bool readable_within(int ms) {
    pollfd p{fd_.get(), POLLIN, 0};
    int r;
    while ((r = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {
    }
    return r == 1;
  }

  void close() noexcept { fd_ = {}; }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

 private:
  ssize_t recv_retrying(char* p, std::size_t n) {
    for (;;) {
      const auto r = ::recv(fd_.get(), p, n, 0);
      if (r >= 0 || errno != EINTR) return r;
    }
  }
  bool fill() {
    char tmp[16384];
    const auto n = recv_retrying(tmp, sizeof tmp);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  duet::io::Fd fd_;
  std::string buf_;
};

/// What the test routes let a test see.
struct Probe {
  std::atomic<int> slow_entered{0};  // requests inside /slow
  std::mutex mu;
  std::vector<std::pair<int, std::size_t>> log;  // hooks: (status, body bytes)
  std::vector<std::string> log_paths;
};

/// The test routes, each in both models: a coroutine handler at the path,
/// a plain one at the path with "-plain" appended.
/// - /plaintext, /json: TechEmpower's answers;
/// - POST /echo: the body back;
/// - /throw: throws;
/// - /slow: counts itself in, then waits for the drain (`stop`).
inline duet::http::Router test_routes(Probe& p, const duet::CancellationToken* stop) {
  using duet::http::Request;
  using duet::http::Response;
  duet::http::Router r;
  r.get("/plaintext",
        [](Request&) -> duet::Task<Response> { co_return Response::text(200, "Hello, World!"); });
  r.get("/plaintext-plain", [](Request&) { return Response::text(200, "Hello, World!"); });
  r.get("/json", [](Request&) -> duet::Task<Response> {
    co_return Response::json(200, R"({"message":"Hello, World!"})");
  });
  r.get("/json-plain",
        [](Request&) { return Response::json(200, R"({"message":"Hello, World!"})"); });
  r.post("/echo",
         [](Request& q) -> duet::Task<Response> { co_return Response::text(200, q.body); });
  r.post("/echo-plain", [](Request& q) { return Response::text(200, q.body); });
  r.get("/throw", [](Request&) -> duet::Task<Response> {
    throw std::runtime_error("handler failed");
    co_return Response::empty(200);
  });
  r.get("/throw-plain", [](Request&) -> Response { throw std::runtime_error("handler failed"); });
  r.get("/slow", [&p, stop](Request&) -> duet::Task<Response> {
    p.slow_entered.fetch_add(1);
    co_await stop->cancelled();
    co_return Response::text(200, "slow");
  });
  r.get("/slow-plain", [&p, stop](Request&) {
    p.slow_entered.fetch_add(1);
    duet::wait(stop->cancelled());
    return Response::text(200, "slow");
  });
  r.prefix(duet::http::Method::get, "/files/",
           [](Request& q) { return Response::text(200, std::string(q.path())); });
  r.route(duet::http::Method::put, "/json", [](Request&) { return Response::empty(204); });
  return r;
}

/// A Server on 127.0.0.1 (a free port) with the test routes, served by a
/// runtime on driver `d`. The destructor drains the runtime (and records
/// whether anything had to be cancelled), then destroys it before the
/// server, whose state its tasks borrow.
struct Fixture {
  Fixture(duet::http::Engine e, duet::IoDriver d, duet::http::ServerOptions o = {},
          duet::ClockMode clock = duet::ClockMode::real)
      : rt(duet::iotest::make_rt(d, 2, clock)), stop(rt->shutdown_token()) {
    o.engine = e;
    if (!o.hooks.on_response) {
      o.hooks.on_response = [this](const duet::http::AccessEntry& a) {
        std::lock_guard lk(probe.mu);
        probe.log.emplace_back(a.status, a.body_bytes);
        probe.log_paths.emplace_back(a.request.path());
      };
    }
    server = std::make_unique<duet::http::Server>(test_routes(probe, &stop), std::move(o));
    auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
    if (!l) throw std::runtime_error("bind: " + l.error().message());
    port = l->local_addr()->port();
    server->serve(*rt, std::move(*l));
  }

  /// A second listener, over TLS with `ctx` (which must outlive the runtime).
  std::uint16_t serve_tls(const duet::tls::TlsContext& ctx) {
    auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
    if (!l) throw std::runtime_error("bind: " + l.error().message());
    const std::uint16_t p = l->local_addr()->port();
    server->serve_tls(*rt, std::move(*l), ctx);
    return p;
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;
  ~Fixture() { finish(); }

  /// Drains and destroys the runtime (once); the DrainReport's cancelled count.
  std::size_t finish() {
    if (rt) {
      cancelled = rt->drain(5s).cancelled.size();
      rt.reset();
    }
    return cancelled;
  }

  Probe probe;
  std::unique_ptr<duet::Runtime> rt;
  duet::CancellationToken stop;
  std::unique_ptr<duet::http::Server> server;
  std::uint16_t port = 0;
  std::size_t cancelled = 0;
};

}  // namespace http_server_test

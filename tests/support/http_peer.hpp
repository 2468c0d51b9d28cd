// http_peer.hpp: what HTTP tests run around a server: a blocking loopback
// client that sends raw bytes and reads whole responses, an HTTPS
// exchange, and a server
// program as a child process (its port read from its "listening on PORT"
// line).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <duet/io/fd.hpp>
#include <duet/net/tcp.hpp>
#include <duet/stackless/task.hpp>
#include <duet/tls.hpp>

extern char** environ;

namespace http_test {

/// One response as read: its status, head (status line and fields) and body.
struct Response {
  int status = 0;
  std::string head;
  std::string body;
  /// The value of `name` in the head (its name in any case), or "".
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
  Response response(bool head_only = false) {
    Response r;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) throw std::runtime_error("closed before a response head: " + buf_);
    }
    r.head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    r.status = std::atoi(r.head.c_str() + 9);
    if (!head_only && r.field("Transfer-Encoding") == "chunked") {
      r.body = chunked_body();
      return r;
    }
    const std::string len = r.field("Content-Length");
    const std::size_t n = head_only || len.empty() ? 0 : std::stoul(len);
    while (buf_.size() < n) {
      if (!fill()) throw std::runtime_error("closed inside a body");
    }
    r.body = buf_.substr(0, n);
    buf_.erase(0, n);
    return r;
  }

  /// Everything the server sends until it closes (a body the close ends).
  std::string until_close() {
    while (fill()) {
    }
    std::string all;
    all.swap(buf_);
    return all;
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

  /// Closes the connection now (a server lingering on it sees the end).
  void close() noexcept { fd_ = {}; }

  [[nodiscard]] const std::string& pending() const noexcept { return buf_; }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

 private:
  /// One line (without its CRLF), read as it comes.
  std::string line() {
    std::size_t end;
    while ((end = buf_.find("\r\n")) == std::string::npos) {
      if (!fill()) throw std::runtime_error("closed inside a chunked body");
    }
    std::string l = buf_.substr(0, end);
    buf_.erase(0, end + 2);
    return l;
  }

  /// A chunked body, decoded (extensions and trailers dropped).
  std::string chunked_body() {
    std::string body;
    for (;;) {
      const std::size_t n = std::stoul(line(), nullptr, 16);
      if (n == 0) {
        while (!line().empty()) {
        }
        return body;
      }
      while (buf_.size() < n + 2) {
        if (!fill()) throw std::runtime_error("closed inside a chunk");
      }
      body.append(buf_, 0, n);
      buf_.erase(0, n + 2);
    }
  }

  // The runtime's threads share this process: a signal meant for them may
  // interrupt the test's own blocking calls (EINTR), which then go on.
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

/// Connects over TLS to 127.0.0.1:`port` (trusting `ca`, the name
/// "localhost"), writes `request`, and returns everything the server sends
/// until it closes (with or without close_notify), or what failed.
inline duet::Task<std::string> https_exchange(std::uint16_t port, std::string ca,
                                              std::string request) {
  duet::tls::ClientConfig cc;
  cc.ca_file = std::move(ca);
  auto ctx = duet::tls::TlsContext::client(cc);
  if (!ctx) co_return "client context: " + ctx.error().message();
  auto tcp = co_await duet::net::TcpStream::connect(duet::net::SocketAddr::v4_loopback(port));
  if (!tcp) co_return "connect: " + tcp.error().message();
  auto s = co_await ctx->connect(std::move(*tcp), "localhost", std::chrono::seconds(10));
  if (!s) co_return "handshake: " + s.error().message();
  auto w = co_await s->write_all(request.data(), request.size());
  if (!w) co_return "write failed";
  std::string got;
  char buf[4096];
  for (;;) {
    auto n = co_await s->read(buf, sizeof buf);
    if (!n || *n == 0) break;
    got.append(buf, *n);
  }
  co_return got;
}

/// A server program (http_server, http_service) as a child, its stdout on
/// a pipe; killed and reaped by the destructor if still running.
class Program {
 public:
  Program(const std::vector<std::string>& args, const std::string& driver) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "DUET_DRIVER=", 12) != 0) env.emplace_back(*e);
    }
    env.push_back("DUET_DRIVER=" + driver);
    std::vector<char*> argv, envp;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    out_ = duet::io::Fd(out[0]);
    if (rc != 0) throw std::runtime_error("posix_spawn: " + std::string(std::strerror(rc)));
  }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  ~Program() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  /// The port of the first "listening on PORT" line (0: none before EOF).
  std::uint16_t port() {
    while (port_ == 0 && read_line()) {
    }
    return port_;
  }
  /// The port of the "listening on PORT (tls)" line (0: none before EOF).
  std::uint16_t tls_port() {
    while (tls_port_ == 0 && read_line()) {
    }
    return tls_port_;
  }

  /// Its exit status (waits for it); -1 if it died of a signal.
  int wait() {
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// The next line of its stdout not yet read (without its newline);
  /// empty at EOF.
  std::optional<std::string> next_line() {
    std::string line;
    if (!read_line(&line)) return std::nullopt;
    return line;
  }

 private:
  /// Reads one line of the program's stdout (into `into` when given),
  /// noting a port it announces; false at EOF.
  bool read_line(std::string* into = nullptr) {
    std::string line;
    char c;
    for (;;) {
      const auto n = ::read(out_.get(), &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n != 1) return false;
      if (c == '\n') break;
      line.push_back(c);
    }
    if (line.rfind("listening on ", 0) == 0) {
      const auto port = static_cast<std::uint16_t>(std::atoi(line.c_str() + 13));
      (line.find("(tls)") != std::string::npos ? tls_port_ : port_) = port;
    }
    if (into != nullptr) *into = std::move(line);
    return true;
  }

  pid_t pid_ = -1;
  duet::io::Fd out_;
  std::uint16_t port_ = 0, tls_port_ = 0;
};

}  // namespace http_test

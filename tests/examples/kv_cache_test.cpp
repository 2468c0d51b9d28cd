// kv_cache_test.cpp: the kv_cache example (examples/kv_cache), run as a
// child process in each model on each driver, talked to over loopback: 200
// concurrent clients whose every answer is checked (SET, GET, MGET, DEL,
// with and without TTLs), a WATCH stream that sees each change of its key
// (a TTL's expiry included), an idle client closed after the idle timeout,
// and a SIGTERM drain that ends the stream, closes the connections and
// exits 0 with nothing cancelled.
//
// The example is built with the examples only (DUET_BUILD_EXAMPLES, off in
// the sanitizer builds); without it this file has no test case.
#ifdef DUET_KV_CACHE_BIN

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_util.hpp"

extern char** environ;

namespace kv_cache_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 200;
constexpr int kRounds = 5;
constexpr auto kIdle = 2000ms;  // the server's --idle-ms

/// A blocking line client on 127.0.0.1. Every receive gives up after 10 s,
/// so a server that never answers fails the test rather than hanging it.
class LineClient {
 public:
  explicit LineClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval tv{10, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  [[nodiscard]] bool connected() const noexcept { return connected_; }

  bool send(std::string_view s) {
    while (!s.empty()) {
      const auto n = ::send(fd_.get(), s.data(), s.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  /// The next line without its "\n"; empty at the end of the stream, on an
  /// error or after 10 s.
  std::optional<std::string> line() {
    std::size_t end;
    while ((end = buf_.find('\n')) == std::string::npos) {
      char tmp[4096];
      const auto n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
    std::string l = buf_.substr(0, end);
    buf_.erase(0, end + 1);
    return l;
  }
  /// Sends `req` and a newline; the first line of the reply ("" if none).
  std::string request(const std::string& req) {
    if (!send(req + "\n")) return "<send failed>";
    return line().value_or("<no reply>");
  }
  /// True once a line or the end of the stream can be read (waits up to `limit`).
  bool readable_within(std::chrono::milliseconds limit) {
    if (buf_.find('\n') != std::string::npos) return true;
    pollfd p{fd_.get(), POLLIN, 0};
    int r;
    while ((r = ::poll(&p, 1, static_cast<int>(limit.count()))) < 0 && errno == EINTR) {
    }
    return r == 1;
  }
  /// True when the server closed the connection (end of stream or reset)
  /// with nothing more sent.
  bool closed() {
    if (!buf_.empty()) return false;
    char c;
    ssize_t n;
    while ((n = ::recv(fd_.get(), &c, 1, 0)) < 0 && errno == EINTR) {
    }
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  duet::io::Fd fd_;
  bool connected_ = false;
  std::string buf_;
};

/// The kv_cache program as a child, its stdout on a pipe; killed and reaped
/// by the destructor if still running.
class Server {
 public:
  Server(const std::string& model, const std::string& driver) {
    const std::vector<std::string> args = {DUET_KV_CACHE_BIN,
                                           "--model",
                                           model,
                                           "--driver",
                                           driver,
                                           "--port",
                                           "0",
                                           "--idle-ms",
                                           std::to_string(kIdle.count()),
                                           "--drain-ms",
                                           "20000"};
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    out_ = duet::io::Fd(out[0]);
    REQUIRE(rc == 0);
    banner_ = read_line();
    if (banner_.rfind("listening on ", 0) == 0) {
      port_ = static_cast<std::uint16_t>(std::atoi(banner_.c_str() + 13));
    }
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const std::string& banner() const noexcept { return banner_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Its exit status once it exited within `limit` (-1: it died of a
  /// signal; nullopt: still running).
  std::optional<int> wait_exit(std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    for (;;) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      if (Clock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(10ms);  // polling an exit: the status decides, not the sleep
    }
  }
  /// What it printed after the banner (read to the end: call after exit).
  std::string rest_of_output() {
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out_.get(), buf, sizeof buf)) != 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      s.append(buf, static_cast<std::size_t>(n));
    }
    return s;
  }

 private:
  std::string read_line() {
    std::string l;
    char c;
    for (;;) {
      const auto n = ::read(out_.get(), &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n != 1 || c == '\n') return l;
      l.push_back(c);
    }
  }

  pid_t pid_ = -1;
  duet::io::Fd out_;
  std::string banner_;
  std::uint16_t port_ = 0;
};

/// What the client threads found wrong (Catch2's macros are not
/// thread-safe: the test thread checks the list).
class Failures {
 public:
  void add(std::string what) {
    std::lock_guard g(m_);
    ++count_;
    if (list_.size() < 20) list_.push_back(std::move(what));
  }
  [[nodiscard]] std::size_t count() {
    std::lock_guard g(m_);
    return count_;
  }
  [[nodiscard]] std::string first() {
    std::lock_guard g(m_);
    std::string s;
    for (const auto& f : list_) s += f + "\n";
    return s;
  }

 private:
  std::mutex m_;
  std::size_t count_ = 0;
  std::vector<std::string> list_;
};

/// One of the 200 clients: kRounds rounds over keys of its own, every
/// answer checked; then QUIT.
void client(std::uint16_t port, int id, Failures& fails) {
  LineClient c(port);
  if (!c.connected()) return fails.add("client " + std::to_string(id) + ": connect failed");
  auto expect = [&](const std::string& req, const std::string& want) {
    const std::string got = c.request(req);
    if (got != want) fails.add(req + ": got '" + got + "', want '" + want + "'");
    return got == want;
  };
  for (int r = 0; r < kRounds; ++r) {
    const std::string tag = std::to_string(id) + "." + std::to_string(r);
    const std::string k = "k" + tag, t = "t" + tag, e = "e" + tag;
    if (!expect("SET " + k + " v" + tag, "OK")) return;
    expect("GET " + k, "VALUE v" + tag);
    expect("SET " + t + " T" + tag + " 60000", "OK");  // expires long after the test
    expect("GET " + t, "VALUE T" + tag);
    expect("SET " + e + " E" + tag + " 1", "OK");  // expires in 1 ms
    // MGET: three lookups in parallel, answers in the keys' order.
    if (expect("MGET " + k + " t" + tag + " missing" + tag, "VALUES 3")) {
      const std::string want[] = {"VALUE v" + tag, "VALUE T" + tag, "NOT_FOUND"};
      for (const auto& w : want) {
        const std::string got = c.line().value_or("<no reply>");
        if (got != w) fails.add("MGET " + k + ": got '" + got + "', want '" + w + "'");
      }
    }
    // The 1 ms entry: gone once its time passed (it may still be seen
    // before; the wait is on its state, bounded).
    bool gone = false;
    const auto until = Clock::now() + 5s;
    while (!gone && Clock::now() < until) {
      const std::string got = c.request("GET " + e);
      gone = got == "NOT_FOUND";
      if (!gone && got != "VALUE E" + tag) fails.add("GET " + e + ": got '" + got + "'");
    }
    if (!gone) fails.add(e + " never expired");
    expect("DEL " + k, "DELETED");
    expect("GET " + k, "NOT_FOUND");
    expect("DEL " + k, "NOT_FOUND");
    expect("DEL " + t, "DELETED");  // cancels its timer
    expect("GET " + t, "NOT_FOUND");
  }
  expect("QUIT", "BYE");
  if (!c.closed()) fails.add("client " + std::to_string(id) + ": open after QUIT");
}

/// Reads the watcher's lines until `want`; only LAGGED notices may come
/// before it (the storm's changes of other keys of the shard can overrun
/// the stream's backlog).
bool watch_sees(LineClient& watcher, const std::string& want) {
  for (;;) {
    const auto l = watcher.line();
    INFO("watcher got '" << l.value_or("<nothing>") << "', waiting for '" << want << "'");
    if (!l) return false;
    if (*l == want) return true;
    if (l->rfind("LAGGED ", 0) != 0) {
      FAIL_CHECK("unexpected line on the WATCH stream");
      return false;
    }
  }
}

void run(const std::string& model, const std::string& driver) {
  if (driver == "io_uring" && !duet::io::uring_features().available) {
    DUET_SKIP("io_uring is not available on this kernel");
  }
  Server srv(model, driver);
  INFO("server: " << srv.banner());
  REQUIRE(srv.port() != 0);
  CHECK(srv.banner().find("(driver " + driver + ", model " + model + ")") != std::string::npos);
  const std::uint16_t port = srv.port();

  // A WATCH stream sees every change of its key, in order: sets, the
  // expiry its TTL timer makes (nobody reads the key), a delete.
  LineClient watcher(port);
  REQUIRE(watcher.request("WATCH w") == "WATCHING");
  LineClient writer(port);
  CHECK(writer.request("SET w 1") == "OK");
  CHECK(watcher.line() == "SET w 1");
  CHECK(writer.request("SET w 2 50") == "OK");
  CHECK(watcher.line() == "SET w 2");
  CHECK(watcher.line() == "EXPIRED w");
  CHECK(writer.request("SET w 3") == "OK");
  CHECK(writer.request("DEL w") == "DELETED");
  CHECK(watcher.line() == "SET w 3");
  CHECK(watcher.line() == "DEL w");
  CHECK(writer.request("FLY me") == "ERROR unknown request, or wrong arguments");

  // An idle client, closed by the server once kIdle passed without a
  // request; timed on a thread of its own while the storm runs.
  LineClient idle(port);
  REQUIRE(idle.request("GET nothing") == "NOT_FOUND");
  const auto idle_from = Clock::now();
  bool idle_closed = false;
  Clock::duration idle_after{};
  std::thread idle_timer([&] {
    idle_closed = idle.closed();
    idle_after = Clock::now() - idle_from;
  });

  // The storm: 200 clients at once.
  Failures fails;
  {
    std::vector<std::thread> clients;
    clients.reserve(kClients);
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back([&, i] { client(port, i, fails); });
    }
    for (auto& t : clients) t.join();
  }
  idle_timer.join();
  INFO("client failures:\n" << fails.first());
  CHECK(fails.count() == 0);
  CHECK(idle_closed);
  CHECK(idle_after >= kIdle - 100ms);  // never early (the client's clock started a little late)

  // The stream is still live after the storm (the writer was idle through
  // it, and closed: a new one).
  LineClient writer2(port);
  CHECK(writer2.request("SET w 4") == "OK");
  CHECK(watch_sees(watcher, "SET w 4"));

  // SIGTERM: the drain ends the WATCH stream ("END", then the close) and
  // closes the connection waiting between requests. SIGTERM is repeated
  // until the stream has something to say (bounded), in case one is missed:
  // a second one during a drain changes nothing.
  bool draining = false;
  for (int i = 0; i < 300 && !draining; ++i) {
    REQUIRE(::kill(srv.pid(), SIGTERM) == 0);
    draining = watcher.readable_within(100ms);
  }
  REQUIRE(draining);
  const auto last = watcher.line();
  CHECK(last == "END");
  CHECK(watcher.closed());
  CHECK(writer2.closed());  // it was between two requests
  const auto rc = srv.wait_exit(30s);
  REQUIRE(rc.has_value());
  CHECK(*rc == 0);
  const std::string report = srv.rest_of_output();
  INFO("server's output after the banner:\n" << report);
  CHECK(report.find("drain: finished in time, 0 tasks cancelled") != std::string::npos);
}

TEST_CASE("kv_cache: coroutines on epoll: 200 clients, WATCH, idle timeout, SIGTERM drain",
          "[kv_cache]") {
  run("coro", "epoll");
}
TEST_CASE("kv_cache: fibers on epoll: 200 clients, WATCH, idle timeout, SIGTERM drain",
          "[kv_cache]") {
  run("fiber", "epoll");
}
TEST_CASE("kv_cache: coroutines on io_uring: 200 clients, WATCH, idle timeout, SIGTERM drain",
          "[kv_cache]") {
  run("coro", "io_uring");
}
TEST_CASE("kv_cache: fibers on io_uring: 200 clients, WATCH, idle timeout, SIGTERM drain",
          "[kv_cache]") {
  run("fiber", "io_uring");
}

}  // namespace kv_cache_test

#endif  // DUET_KV_CACHE_BIN

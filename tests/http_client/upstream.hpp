// upstream.hpp: what the client tests share: a loopback upstream written
// here (a TcpListener task that reads each request by its Content-Length,
// or chunked, and answers the bytes a test's script gives, so each case controls the
// response's framing, and when the connection closes), the two faces of a
// call (the coroutine `send`, or `send_now` on a fiber of its own), by
// address or by URL, and a
// thread-safe list of failures that scenarios running on the workers fill
// and the test's thread reports.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <duet/http.hpp>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "net_util.hpp"

namespace duet::httpclienttest {

using duet::http::Client;
using duet::http::ClientConfig;
using duet::http::Method;
using duet::http::Request;
using duet::http::Response;
using duet::iotest::Model;
using duet::net::SocketAddr;
using Outcome = duet::Result<Response>;

/// Waits (in a scenario) until `v` reaches `want`: observable state, looked
/// at every millisecond.
inline duet::Task<void> until(const std::atomic<int>& v, int want) {
  while (v.load() < want) co_await duet::sleep(std::chrono::milliseconds(1));
}

/// What the upstream does with one request.
struct Reply {
  std::string bytes;   // written whole
  bool close = false;  // then closes the connection (without saying so)
  bool hang = false;   // answers nothing; waits for the client to close
  /// Set: the answer waits until it reaches 1 (a test holds a request at
  /// the upstream, its connection busy, then lets it go).
  const std::atomic<int>* gate = nullptr;
};

/// One request as the upstream read it.
struct Seen {
  std::string head;  // request line and fields, through the blank line
  std::string body;
  int conn = 0;  // the connection's number, in accept order
};

/// "HTTP/1.1 200 OK" with a Content-Length body.
inline std::string ok(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

/// The request's target ("/a/b" of "GET /a/b HTTP/1.1").
inline std::string target_of(const std::string& head) {
  const auto a = head.find(' ');
  const auto b = head.find(' ', a + 1);
  return head.substr(a + 1, b - a - 1);
}

inline std::string lowered(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return s;
}

inline std::size_t content_length(const std::string& head) {
  const std::string h = lowered(head);
  const auto at = h.find("\r\ncontent-length:");
  if (at == std::string::npos) return 0;
  return static_cast<std::size_t>(std::stoul(h.substr(at + 17)));
}

class Upstream {
 public:
  /// `script(seen, nth)` answers the upstream's nth request (0-based, over
  /// every connection); it runs on any worker.
  using Script = std::function<Reply(const Seen&, int)>;

  explicit Upstream(Script script) : script_(std::move(script)) {
    auto l = duet::net::TcpListener::bind(SocketAddr::v4_loopback(0));
    REQUIRE(l);
    listener_ = std::move(*l);
    auto a = listener_.local_addr();
    REQUIRE(a);
    addr_ = *a;
  }

  [[nodiscard]] SocketAddr addr() const { return addr_; }

  /// The accept loop, as a task of the calling task's runtime; dropping
  /// the handle stops it.
  auto start() { return duet::spawn(accept_loop(this)).cancel_on_drop(); }
  auto start(duet::Runtime& rt) { return rt.spawn(accept_loop(this)).cancel_on_drop(); }

  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

  std::atomic<int> accepted{0};
  std::atomic<int> requests{0};       // read whole (and recorded in seen())
  std::atomic<int> server_closes{0};  // connections the upstream closed (Reply::close)
  std::atomic<int> client_closes{0};  // connections that ended on the client's close

 private:
  /// Reads more of the connection into `in`; false at its end.
  static duet::Task<bool> fill(duet::net::TcpStream& s, std::string& in) {
    std::array<std::byte, 4096> buf{};
    auto n = co_await s.read(buf);
    if (!n || *n == 0) co_return false;
    in.append(reinterpret_cast<const char*>(buf.data()), *n);
    co_return true;
  }

  static duet::Task<void> serve(Upstream* up, duet::net::TcpStream s, int conn) {
    std::string in;
    for (;;) {
      std::size_t end = 0;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        const bool more = co_await fill(s, in);
        if (!more) {
          up->client_closes.fetch_add(1);
          co_return;
        }
      }
      Seen seen{in.substr(0, end + 4), {}, conn};
      if (lowered(seen.head).find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
        // A chunked body (no trailers): size lines and chunks to "0" CRLF CRLF.
        std::size_t at = end + 4;
        for (;;) {
          std::size_t eol;
          while ((eol = in.find("\r\n", at)) == std::string::npos) {
            if (!co_await fill(s, in)) {
              up->client_closes.fetch_add(1);
              co_return;
            }
          }
          const std::size_t size = std::stoul(in.substr(at, eol - at), nullptr, 16);
          while (in.size() < eol + 2 + size + 2) {
            if (!co_await fill(s, in)) {
              up->client_closes.fetch_add(1);
              co_return;
            }
          }
          seen.body.append(in, eol + 2, size);
          at = eol + 2 + size + 2;
          if (size == 0) break;
        }
        in.erase(0, at);
      } else {
        const std::size_t len = content_length(in.substr(0, end + 2));
        while (in.size() < end + 4 + len) {
          const bool more = co_await fill(s, in);
          if (!more) {
            up->client_closes.fetch_add(1);
            co_return;
          }
        }
        seen.body = in.substr(end + 4, len);
        in.erase(0, end + 4 + len);
      }
      const int nth = up->next_.fetch_add(1);
      Reply r = up->script_(seen, nth);
      {
        std::lock_guard lock(up->mu_);
        up->seen_.push_back(std::move(seen));
      }
      up->requests.fetch_add(1);
      if (r.hang) {
        for (;;) {
          const bool more = co_await fill(s, in);
          if (!more) break;
        }
        up->client_closes.fetch_add(1);
        co_return;
      }
      if (r.gate != nullptr) co_await until(*r.gate, 1);
      auto w = co_await s.write_all(r.bytes.data(), r.bytes.size());
      if (!w) co_return;
      if (r.close) {
        (void)s.close();
        up->server_closes.fetch_add(1);
        co_return;
      }
    }
  }

  static duet::Task<void> accept_loop(Upstream* up) {
    for (int conn = 0;; ++conn) {
      auto s = co_await up->listener_.accept();
      if (!s) co_return;
      up->accepted.fetch_add(1);
      duet::spawn(serve(up, std::move(*s), conn)).detach();
    }
  }

  Script script_;
  duet::net::TcpListener listener_;
  SocketAddr addr_;
  std::atomic<int> next_{0};
  std::mutex mu_;
  std::vector<Seen> seen_;
};

/// Failures noted by scenarios on the workers (Catch2 is not thread-safe),
/// reported by the test's thread.
class Failures {
 public:
  void note(std::string what) {
    std::lock_guard lock(mu_);
    list_.push_back(std::move(what));
  }
  void report() {
    std::lock_guard lock(mu_);
    for (const auto& f : list_) FAIL_CHECK(f);
    list_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> list_;
};

inline std::string describe(const Outcome& r) {
  if (!r) return "error: " + r.error().message();
  return "status " + std::to_string(r->status) + ", body '" + r->body + "'";
}

/// In a scenario (a coroutine): notes a failed condition and goes on.
#define HC_EXPECT(f, cond) \
  ((cond) ? (void)0 : (f).note(std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #cond))
/// In a scenario: a response with this status and body, or notes what came
/// instead and ends the scenario.
#define HC_ENSURE_OK(f, r, want_status, want_body)                                         \
  do {                                                                                     \
    if (!(r) || (r)->status != (want_status) || (r)->body != (want_body)) {                \
      (f).note(std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " + describe(r) + \
               ", wanted " + std::to_string(want_status) + " '" + (want_body) + "'");      \
      co_return;                                                                           \
    }                                                                                      \
  } while (false)

/// Runs `scenario(model, client, upstream, failures)` on a 2-worker
/// runtime on `drv`, with a Client of `options`, against an upstream
/// answering `script`; reports the failures it noted.
template <class S>
void run_scenario(duet::IoDriver drv, Model model, Upstream::Script script, S scenario,
                  ClientConfig options = {}) {
  Upstream up(std::move(script));
  auto rt = duet::iotest::make_rt(drv);
  Failures f;
  {
    Client client(options);
    rt->block_on(scenario(model, client, up, f));
  }
  f.report();
}

/// One request in face `m`: `send` awaited here (coroutine), or `send_now`
/// on a fiber spawned for it.
inline duet::Task<Outcome> call(Model m, Client& c, SocketAddr a, Request r,
                                duet::http::SendConfig opt = {}) {
  if (m == Model::stackless) co_return co_await c.send(a, std::move(r), opt);
  // The fiber is made outside the co_await, its request on the heap: GCC 12
  // mishandles a lambda that captures a coroutine's parameter by move inside
  // a co_await expression (the capture's string pointed into the frame).
  auto req = std::make_shared<Request>(std::move(r));
  auto h = duet::spawn(duet::stackful, [&c, a, req, opt] { return c.send_now(a, *req, opt); });
  co_return co_await std::move(h);
}

/// The same by URL (its text, parsed by the client).
inline duet::Task<Outcome> call(Model m, Client& c, std::string url, Request r,
                                duet::http::SendConfig opt = {}) {
  if (m == Model::stackless) co_return co_await c.send(url, std::move(r), opt);
  auto req = std::make_shared<Request>(std::move(r));
  auto u = std::make_shared<std::string>(std::move(url));
  auto h = duet::spawn(duet::stackful, [&c, u, req, opt] { return c.send_now(*u, *req, opt); });
  co_return co_await std::move(h);
}

inline duet::Task<Outcome> get(Model m, Client& c, SocketAddr a, std::string target) {
  co_return co_await call(m, c, a, Request::make(Method::get, std::move(target)));
}

/// The same, on the test's thread.
inline void wait_until(const std::atomic<int>& v, int want) {
  while (v.load() < want) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace duet::httpclienttest

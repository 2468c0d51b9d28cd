// sim_util.hpp: what the simulated network's tests share: the clock's
// tolerance (near), errno as an error code, bytes to send and check, and an
// echo server and client in each model (coroutine, fiber, poll future) over
// the unchanged TcpListener and TcpStream.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <duet/duet.hpp>
#include <duet/sim/world.hpp>

namespace duet::simtest {

using namespace std::chrono_literals;

/// Up to this much later than exact: each hop's delivery is a timer, fired
/// at its deadline rounded up to the wheel's 1024 ns tick.
inline constexpr auto kTicks = std::chrono::nanoseconds(4 * 1024);

inline bool near(Clock::duration got, Clock::duration want) {
  return got >= want && got < want + kTicks;
}

inline std::error_code code(int e) {
  return std::make_error_code(static_cast<std::errc>(e));
}

inline std::vector<std::byte> bytes(std::size_t n, std::uint32_t salt = 0) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 7 + 3 + salt) % 251);
  return v;
}

/// A coroutine echo server on `port`: serves `conns` connections one after
/// another, each until its peer's end of stream or an error.
inline Task<void> coro_echo_server(std::uint16_t port, int conns) {
  auto l = net::TcpListener::bind(net::SocketAddr::v4_any(port));
  if (!l) co_return;
  for (int i = 0; i < conns; ++i) {
    auto s = co_await l->accept();
    if (!s) co_return;
    std::byte buf[4096];
    for (;;) {
      auto n = co_await s->read(buf);
      if (!n || *n == 0) break;
      auto w = co_await s->write_all(std::span(buf, *n));
      if (!w) break;
    }
  }
}

/// A coroutine echo client: sends `msg` whole, half-closes, reads back
/// until end of stream. The bytes it got back, or the first error.
inline Task<duet::Result<std::vector<std::byte>>> coro_echo_client(net::SocketAddr to,
                                                                   std::vector<std::byte> msg) {
  auto c = co_await net::TcpStream::connect(to);
  if (!c) co_return c.error();
  auto w = co_await c->write_all(msg);
  if (!w) co_return w.error();
  auto sh = c->shutdown();
  if (!sh) co_return sh.error();
  std::vector<std::byte> got;
  std::byte buf[4096];
  for (;;) {
    auto n = co_await c->read(buf);
    if (!n) co_return n.error();
    if (*n == 0) break;
    got.insert(got.end(), buf, buf + *n);
  }
  co_return got;
}

}  // namespace duet::simtest

namespace duet::simtest {

/// A coroutine echo server that serves every connection at once (a task
/// each), until it is cancelled.
inline Task<void> coro_echo_conn(net::TcpStream s) {
  std::byte buf[4096];
  for (;;) {
    auto n = co_await s.read(buf);
    if (!n || *n == 0) co_return;
    auto w = co_await s.write_all(std::span(buf, *n));
    if (!w) co_return;
  }
}
inline Task<void> coro_echo_forever(std::uint16_t port) {
  auto l = net::TcpListener::bind(net::SocketAddr::v4_any(port));
  if (!l) co_return;
  for (;;) {
    auto s = co_await l->accept();
    if (!s) continue;
    duet::spawn(coro_echo_conn(std::move(*s))).detach();
  }
}

/// The fiber echo server and client: the same steps as plain calls.
inline void fiber_echo_server(std::uint16_t port, int conns) {
  auto l = net::TcpListener::bind(net::SocketAddr::v4_any(port));
  if (!l) return;
  for (int i = 0; i < conns; ++i) {
    auto s = duet::wait(l->accept());
    if (!s) return;
    std::byte buf[4096];
    for (;;) {
      auto n = duet::wait(s->read(buf));
      if (!n || *n == 0) break;
      if (!duet::wait(s->write_all(std::span(buf, *n)))) break;
    }
  }
}
inline duet::Result<std::vector<std::byte>> fiber_echo_client(net::SocketAddr to,
                                                              const std::vector<std::byte>& msg) {
  auto c = duet::wait(net::TcpStream::connect(to));
  if (!c) return c.error();
  auto w = duet::wait(c->write_all(msg));
  if (!w) return w.error();
  if (auto sh = c->shutdown(); !sh) return sh.error();
  std::vector<std::byte> got;
  std::byte buf[4096];
  for (;;) {
    auto n = duet::wait(c->read(buf));
    if (!n) return n.error();
    if (*n == 0) return got;
    got.insert(got.end(), buf, buf + *n);
  }
}

/// The echo client as a hand-written poll future: connect, write all,
/// half-close, read to end of stream.
class PollEchoClient {
 public:
  PollEchoClient(net::SocketAddr to, std::vector<std::byte> msg)
      : connect_(net::TcpStream::connect(to)), msg_(std::move(msg)) {}
  Poll<duet::Result<std::vector<std::byte>>> poll(Context& cx) {
    for (;;) {
      if (!stream_) {
        auto p = connect_.poll(cx);
        if (p.is_pending()) return pending;
        auto c = std::move(p).value();
        if (!c) return duet::Result<std::vector<std::byte>>(c.error());
        stream_ = std::make_unique<net::TcpStream>(std::move(*c));
        write_.emplace(stream_->write_all(msg_));
      } else if (write_) {
        auto p = write_->poll(cx);
        if (p.is_pending()) return pending;
        write_.reset();
        if (!p.value()) return duet::Result<std::vector<std::byte>>(p.value().error());
        if (auto sh = stream_->shutdown(); !sh)
          return duet::Result<std::vector<std::byte>>(sh.error());
        read_.emplace(stream_->read(buf_));
      } else {
        auto p = read_->poll(cx);
        if (p.is_pending()) return pending;
        auto n = std::move(p).value();
        read_.reset();
        if (!n) return duet::Result<std::vector<std::byte>>(n.error());
        if (*n == 0) return duet::Result<std::vector<std::byte>>(std::move(got_));
        got_.insert(got_.end(), buf_, buf_ + *n);
        read_.emplace(stream_->read(buf_));
      }
    }
  }

 private:
  net::ConnectFuture connect_;
  std::vector<std::byte> msg_;
  std::unique_ptr<net::TcpStream> stream_;  // the futures below point into it
  std::optional<io::WriteAllFuture> write_;
  std::optional<io::SizeFuture> read_;
  std::byte buf_[4096];
  std::vector<std::byte> got_;
};

/// A client's outcome in a fault sweep: its bytes back exactly, an error,
/// or wrong bytes (a bug).
enum class Outcome { ok, error, wrong };

}  // namespace duet::simtest

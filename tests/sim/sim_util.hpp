// sim_util.hpp: what the simulated network's tests share: bytes to send and
// check, and an echo server and client in each model (coroutine, fiber,
// poll future) over the unchanged TcpListener and TcpStream.
#pragma once

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
inline Task<io::Result<std::vector<std::byte>>> coro_echo_client(net::SocketAddr to,
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

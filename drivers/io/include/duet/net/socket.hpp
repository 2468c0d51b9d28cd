// duet/net/socket.hpp: socket options, and TcpSocket, a TCP socket made
// before it is bound or connected so that options that must come first
// (SO_REUSEPORT, IPV6_V6ONLY, buffer sizes) can be set; then listen() with
// a backlog, or connect().
//
// Example (fiber):
//   // One listener per worker on one port: the kernel spreads connections.
//   auto addr = duet::net::SocketAddr::v4_loopback(8080);
//   auto s = duet::net::TcpSocket::for_addr(addr);
//   if (s) {
//     auto r = s->options().set_reuseport(true);
//     auto b = s->bind(addr);
//     auto l = std::move(*s).listen(1024);        // Result<TcpListener>
//   }
//
// Every setter and getter is a plain setsockopt/getsockopt (never blocks)
// returning duet::Result with the OS's reason (EINVAL, ENOPROTOOPT, EBADF).
// SocketOptions borrows a descriptor: any socket's `options()` gives one.
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <optional>

#include "duet/io/fd.hpp"
#include "duet/net/address.hpp"
#include "duet/net/tcp.hpp"
#include "duet/result.hpp"

namespace duet::net {

/// The options of a socket it does not own.
class DUET_API SocketOptions {
 public:
  explicit SocketOptions(int fd) noexcept : fd_(fd) {}

  /// SO_REUSEADDR: bind a port that connections in TIME_WAIT still use.
  duet::Result<void> set_reuseaddr(bool on) noexcept;
  [[nodiscard]] duet::Result<bool> reuseaddr() const noexcept;
  /// SO_REUSEPORT: several sockets (of this user) bind one port; the kernel
  /// spreads incoming connections over the listeners (one per worker).
  duet::Result<void> set_reuseport(bool on) noexcept;
  [[nodiscard]] duet::Result<bool> reuseport() const noexcept;
  /// TCP_NODELAY: send small segments at once (no Nagle delay).
  duet::Result<void> set_nodelay(bool on) noexcept;
  [[nodiscard]] duet::Result<bool> nodelay() const noexcept;
  /// SO_KEEPALIVE, and the probes' timing: idle time before the first,
  /// interval between them, how many unanswered before the reset.
  duet::Result<void> set_keepalive(bool on) noexcept;
  [[nodiscard]] duet::Result<bool> keepalive() const noexcept;
  duet::Result<void> set_keepalive_idle(std::chrono::seconds idle) noexcept;
  duet::Result<void> set_keepalive_interval(std::chrono::seconds interval) noexcept;
  duet::Result<void> set_keepalive_count(int probes) noexcept;
  [[nodiscard]] duet::Result<std::chrono::seconds> keepalive_idle() const noexcept;
  /// SO_SNDBUF / SO_RCVBUF. The kernel doubles the value asked for (its
  /// bookkeeping) and caps it at net.core.wmem_max / rmem_max; the getter
  /// reads what the kernel uses.
  duet::Result<void> set_send_buffer_size(int bytes) noexcept;
  [[nodiscard]] duet::Result<int> send_buffer_size() const noexcept;
  duet::Result<void> set_recv_buffer_size(int bytes) noexcept;
  [[nodiscard]] duet::Result<int> recv_buffer_size() const noexcept;
  /// SO_LINGER: nullopt, close returns at once and the kernel sends what is
  /// left (the default); a duration, close waits for that long (0: close
  /// resets the connection). A duet socket is non-blocking, so its close
  /// never waits; with 0 it still resets.
  duet::Result<void> set_linger(std::optional<std::chrono::seconds> linger) noexcept;
  [[nodiscard]] duet::Result<std::optional<std::chrono::seconds>> linger() const noexcept;
  /// IPV6_V6ONLY (IPv6 sockets only, before bind): accept IPv6 alone, not
  /// IPv4-mapped addresses too.
  duet::Result<void> set_only_v6(bool on) noexcept;
  [[nodiscard]] duet::Result<bool> only_v6() const noexcept;

 private:
  duet::Result<void> set_int(int level, int name, int value) const noexcept;
  [[nodiscard]] duet::Result<int> get_int(int level, int name) const noexcept;
  int fd_;
};

/// A TCP socket not yet bound or connected (non-blocking, close-on-exec).
class DUET_API TcpSocket {
 public:
  /// A socket of `addr`'s family (AF_INET or AF_INET6).
  static duet::Result<TcpSocket> for_addr(const SocketAddr& addr) noexcept;
  static duet::Result<TcpSocket> v4() noexcept;
  static duet::Result<TcpSocket> v6() noexcept;

  [[nodiscard]] SocketOptions options() const noexcept { return SocketOptions(fd_.get()); }
  duet::Result<void> bind(const SocketAddr& addr) noexcept;
  [[nodiscard]] duet::Result<SocketAddr> local_addr() const noexcept;
  /// listen(2) with `backlog` (the kernel caps it at net.core.somaxconn).
  duet::Result<TcpListener> listen(int backlog = 4096) && noexcept;
  /// Connects this socket (its options and any bind kept): as
  /// TcpStream::connect.
  ConnectFuture connect(SocketAddr to, std::chrono::nanoseconds timeout = std::chrono::nanoseconds{
                                           0}) && noexcept {
    return ConnectFuture(std::move(fd_), to, timeout);
  }
  [[nodiscard]] int native_handle() const noexcept { return fd_.get(); }

 private:
  explicit TcpSocket(io::Fd fd) noexcept : fd_(std::move(fd)) {}
  io::Fd fd_;
};

}  // namespace duet::net

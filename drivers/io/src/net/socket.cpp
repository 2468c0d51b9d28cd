// socket.cpp: socket options (setsockopt/getsockopt, each error with its
// errno) and TcpSocket, the TCP socket set up before bind and listen or
// connect (duet/net/socket.hpp).
#include "duet/net/socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "duet/io/detail/socket_ops.hpp"

namespace duet::net {

// tcp.cpp: the calls made through the descriptor's socket table
// (duet/io/detail/socket_ops.hpp), with errno set on failure.
duet::Result<SocketAddr> sock_name(int fd, bool peer) noexcept;
int make_socket(int family, int type) noexcept;
int socket_bind(int fd, const SocketAddr& addr) noexcept;
int socket_listen(int fd, int backlog) noexcept;

namespace {
/// The option calls through the descriptor's socket table: 0, or -1 with
/// errno.
int set_option(int fd, int level, int name, const void* v, socklen_t len) noexcept {
  const int r = io::detail::socket_ops(fd).setsockopt(fd, level, name, v, len);
  if (r >= 0) return r;
  errno = -r;
  return -1;
}
int get_option(int fd, int level, int name, void* v, socklen_t* len) noexcept {
  const int r = io::detail::socket_ops(fd).getsockopt(fd, level, name, v, len);
  if (r >= 0) return r;
  errno = -r;
  return -1;
}
}  // namespace

// ---- SocketOptions --------------------------------------------------------

duet::Result<void> SocketOptions::set_int(int level, int name, int value) const noexcept {
  if (set_option(fd_, level, name, &value, sizeof value) < 0) return io::errno_code(errno);
  return {};
}

duet::Result<int> SocketOptions::get_int(int level, int name) const noexcept {
  int v = 0;
  socklen_t l = sizeof v;
  if (get_option(fd_, level, name, &v, &l) < 0) return io::errno_code(errno);
  return v;
}

namespace {
duet::Result<bool> as_bool(duet::Result<int> r) noexcept {
  if (!r) return r.error();
  return *r != 0;
}
}  // namespace

duet::Result<void> SocketOptions::set_reuseaddr(bool on) noexcept {
  return set_int(SOL_SOCKET, SO_REUSEADDR, on ? 1 : 0);
}
duet::Result<bool> SocketOptions::reuseaddr() const noexcept {
  return as_bool(get_int(SOL_SOCKET, SO_REUSEADDR));
}
duet::Result<void> SocketOptions::set_reuseport(bool on) noexcept {
  return set_int(SOL_SOCKET, SO_REUSEPORT, on ? 1 : 0);
}
duet::Result<bool> SocketOptions::reuseport() const noexcept {
  return as_bool(get_int(SOL_SOCKET, SO_REUSEPORT));
}
duet::Result<void> SocketOptions::set_nodelay(bool on) noexcept {
  return set_int(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}
duet::Result<bool> SocketOptions::nodelay() const noexcept {
  return as_bool(get_int(IPPROTO_TCP, TCP_NODELAY));
}
duet::Result<void> SocketOptions::set_keepalive(bool on) noexcept {
  return set_int(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
}
duet::Result<bool> SocketOptions::keepalive() const noexcept {
  return as_bool(get_int(SOL_SOCKET, SO_KEEPALIVE));
}
duet::Result<void> SocketOptions::set_keepalive_idle(std::chrono::seconds idle) noexcept {
  return set_int(IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(idle.count()));
}
duet::Result<void> SocketOptions::set_keepalive_interval(std::chrono::seconds interval) noexcept {
  return set_int(IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(interval.count()));
}
duet::Result<void> SocketOptions::set_keepalive_count(int probes) noexcept {
  return set_int(IPPROTO_TCP, TCP_KEEPCNT, probes);
}
duet::Result<std::chrono::seconds> SocketOptions::keepalive_idle() const noexcept {
  auto r = get_int(IPPROTO_TCP, TCP_KEEPIDLE);
  if (!r) return r.error();
  return std::chrono::seconds(*r);
}
duet::Result<void> SocketOptions::set_send_buffer_size(int bytes) noexcept {
  return set_int(SOL_SOCKET, SO_SNDBUF, bytes);
}
duet::Result<int> SocketOptions::send_buffer_size() const noexcept {
  return get_int(SOL_SOCKET, SO_SNDBUF);
}
duet::Result<void> SocketOptions::set_recv_buffer_size(int bytes) noexcept {
  return set_int(SOL_SOCKET, SO_RCVBUF, bytes);
}
duet::Result<int> SocketOptions::recv_buffer_size() const noexcept {
  return get_int(SOL_SOCKET, SO_RCVBUF);
}
duet::Result<void> SocketOptions::set_linger(std::optional<std::chrono::seconds> linger) noexcept {
  ::linger l{linger ? 1 : 0, linger ? static_cast<int>(linger->count()) : 0};
  if (set_option(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0) return io::errno_code(errno);
  return {};
}
duet::Result<std::optional<std::chrono::seconds>> SocketOptions::linger() const noexcept {
  ::linger l{};
  socklen_t len = sizeof l;
  if (get_option(fd_, SOL_SOCKET, SO_LINGER, &l, &len) < 0) return io::errno_code(errno);
  if (l.l_onoff == 0) return std::optional<std::chrono::seconds>{};
  return std::optional<std::chrono::seconds>(std::chrono::seconds(l.l_linger));
}
duet::Result<void> SocketOptions::set_only_v6(bool on) noexcept {
  return set_int(IPPROTO_IPV6, IPV6_V6ONLY, on ? 1 : 0);
}
duet::Result<bool> SocketOptions::only_v6() const noexcept {
  return as_bool(get_int(IPPROTO_IPV6, IPV6_V6ONLY));
}

// ---- TcpSocket ------------------------------------------------------------

duet::Result<TcpSocket> TcpSocket::v4() noexcept {
  io::Fd fd(make_socket(AF_INET, SOCK_STREAM));
  if (!fd) return io::errno_code(errno);
  return TcpSocket(std::move(fd));
}

duet::Result<TcpSocket> TcpSocket::v6() noexcept {
  io::Fd fd(make_socket(AF_INET6, SOCK_STREAM));
  if (!fd) return io::errno_code(errno);
  return TcpSocket(std::move(fd));
}

duet::Result<TcpSocket> TcpSocket::for_addr(const SocketAddr& addr) noexcept {
  return addr.family() == AF_INET6 ? v6() : v4();
}

duet::Result<void> TcpSocket::bind(const SocketAddr& addr) noexcept {
  if (socket_bind(fd_.get(), addr) < 0) return io::errno_code(errno);
  return {};
}

duet::Result<SocketAddr> TcpSocket::local_addr() const noexcept {
  return sock_name(fd_.get(), false);
}

duet::Result<TcpListener> TcpSocket::listen(int backlog) && noexcept {
  if (socket_listen(fd_.get(), backlog) < 0) return io::errno_code(errno);
  TcpListener l;
  l.src_.fd = std::move(fd_);
  return l;
}

}  // namespace duet::net

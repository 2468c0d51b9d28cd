// udp.cpp: UdpSocket (duet/net/udp.hpp): its socket made, bound and
// connected, and its datagrams sent and received without waiting (the
// try_ calls), through the descriptor's socket table
// (duet/io/detail/socket_ops.hpp; tcp.cpp's make_socket and socket_bind):
// the kernel's, or a simulated network's for a virtual descriptor.
#include "duet/net/udp.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "duet/io/detail/socket_ops.hpp"

namespace duet::net {

duet::Result<SocketAddr> sock_name(int fd, bool peer) noexcept;
int make_socket(int family, int type) noexcept;
int socket_bind(int fd, const SocketAddr& addr) noexcept;

RecvFromFuture::RecvFromFuture(io::detail::Source* s, std::span<std::byte> buf) noexcept
    : q_{io::detail::OpKind::recvfrom} {
  q_.src = s;
  q_.rbuf = buf.data();
  q_.len = buf.size();
}

Poll<duet::Result<Datagram>> RecvFromFuture::poll(Context& cx) {
  q_.addr = &from_;  // the future may have moved since the last poll
  auto p = io::detail::poll_op(q_, slot_, cx);
  if (p.is_pending()) return pending;
  long r = p.value();
  if (r < 0) return duet::Result<Datagram>(io::errno_code(static_cast<int>(-r)));
  return duet::Result<Datagram>(Datagram{static_cast<std::size_t>(r), from_});
}

Poll<duet::Result<std::size_t>> RecvFuture::poll(Context& cx) {
  auto p = from_.poll(cx);
  if (p.is_pending()) return pending;
  duet::Result<Datagram> d = std::move(p).value();
  if (!d) return duet::Result<std::size_t>(d.error());
  return duet::Result<std::size_t>(d->size);
}

duet::Result<UdpSocket> UdpSocket::bind(SocketAddr addr) noexcept {
  io::Fd fd(make_socket(addr.family(), SOCK_DGRAM));
  if (!fd) return io::errno_code(errno);
  if (socket_bind(fd.get(), addr) < 0) return io::errno_code(errno);
  UdpSocket u;
  u.src_.fd = std::move(fd);
  return u;
}

io::SendToFuture UdpSocket::send_to(std::span<const std::byte> data,
                                    const SocketAddr& to) noexcept {
  io::detail::OpRequest q{io::detail::OpKind::sendto};
  q.src = &src_;
  q.wbuf = data.data();
  q.len = data.size();
  return io::SendToFuture(q, to);
}

duet::Result<void> UdpSocket::connect(const SocketAddr& peer) noexcept {
  const int fd = src_.fd.get();
  if (const int r = io::detail::socket_ops(fd).connect_dgram(fd, peer); r < 0) {
    return io::errno_code(-r);
  }
  return {};
}

io::SendToFuture UdpSocket::send(std::span<const std::byte> data) noexcept {
  // No address (length 0): the kernel sends to the connected peer.
  return send_to(data, SocketAddr());
}

namespace {
/// A direct call's negative answer as its error: EINTR (no datagram
/// moved) is would-block too, as in TcpStream::try_write.
std::error_code try_error(long r) noexcept {
  return io::errno_code(r == -EINTR ? EAGAIN : static_cast<int>(-r));
}
}  // namespace

duet::Result<std::size_t> UdpSocket::try_send_to(std::span<const std::byte> data,
                                                 const SocketAddr& to) noexcept {
  const int fd = src_.fd.get();
  const long r = io::detail::socket_ops(fd).sendto_now(fd, data.data(), data.size(), to);
  if (r < 0) return try_error(r);
  return static_cast<std::size_t>(r);
}

duet::Result<std::size_t> UdpSocket::try_send(std::span<const std::byte> data) noexcept {
  return try_send_to(data, SocketAddr());  // length 0: the connected peer
}

duet::Result<Datagram> UdpSocket::try_recv_from(std::span<std::byte> buf) noexcept {
  const int fd = src_.fd.get();
  SocketAddr from;
  const long r = io::detail::socket_ops(fd).recvfrom_now(fd, buf.data(), buf.size(), from);
  if (r < 0) return try_error(r);
  return Datagram{static_cast<std::size_t>(r), from};
}

duet::Result<std::size_t> UdpSocket::try_recv(std::span<std::byte> buf) noexcept {
  duet::Result<Datagram> d = try_recv_from(buf);
  if (!d) return d.error();
  return d->size;
}

duet::Result<SocketAddr> UdpSocket::local_addr() const noexcept {
  return sock_name(src_.fd.get(), false);
}

duet::Result<SocketAddr> UdpSocket::peer_addr() const noexcept {
  return sock_name(src_.fd.get(), true);
}

}  // namespace duet::net

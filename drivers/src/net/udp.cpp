#include "duet/net/udp.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace duet::net {

io::Result<SocketAddr> sock_name(int fd, bool peer) noexcept;

RecvFromFuture::RecvFromFuture(io::detail::Source* s, std::span<std::byte> buf) noexcept
    : q_{io::detail::OpKind::recvfrom} {
  q_.src = s;
  q_.rbuf = buf.data();
  q_.len = buf.size();
}

Poll<io::Result<Datagram>> RecvFromFuture::poll(Context& cx) {
  q_.addr = &from_;  // the future may have moved since the last poll
  auto p = io::detail::poll_op(q_, slot_, cx);
  if (p.is_pending()) return pending;
  long r = p.value();
  if (r < 0) return io::Result<Datagram>(io::errno_code(static_cast<int>(-r)));
  return io::Result<Datagram>(Datagram{static_cast<std::size_t>(r), from_});
}

io::Result<UdpSocket> UdpSocket::bind(SocketAddr addr) noexcept {
  io::Fd fd(::socket(addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return io::errno_code(errno);
  if (::bind(fd.get(), addr.raw(), addr.len()) < 0) return io::errno_code(errno);
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

io::Result<SocketAddr> UdpSocket::local_addr() const noexcept {
  return sock_name(src_.fd.get(), false);
}

}  // namespace duet::net

// unix.cpp: Unix domain sockets (duet/net/unix.hpp): addresses, streams and
// listeners, datagram sockets, descriptor passing through the send_fds and
// recv_fds operations, and SO_PEERCRED.
#include "duet/net/unix.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace duet::net {
namespace {
using io::detail::OpKind;
using io::detail::OpRequest;

constexpr std::size_t kMaxName = sizeof(sockaddr_un::sun_path) - 1;

int make_unix_socket(int type) noexcept {
  return ::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/// An AF_UNIX SocketAddr with `lead` (0 or 1 NUL bytes) then `name`.
SocketAddr make_unix(std::string_view name, bool abstract) noexcept {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if (name.size() > kMaxName) {  // unnamed: bind and connect say EINVAL
    return SocketAddr::from_raw(reinterpret_cast<sockaddr*>(&un), sizeof(sa_family_t));
  }
  const std::size_t lead = abstract ? 1 : 0;
  if (!name.empty()) std::memcpy(un.sun_path + lead, name.data(), name.size());
  // A path counts its NUL; an abstract name is exactly its bytes.
  const std::size_t len = offsetof(sockaddr_un, sun_path) + lead + name.size() + (abstract ? 0 : 1);
  return SocketAddr::from_raw(reinterpret_cast<sockaddr*>(&un), static_cast<socklen_t>(len));
}

duet::Result<UnixAddr> unix_name(int fd, bool peer) noexcept {
  sockaddr_storage ss{};
  socklen_t l = sizeof ss;
  sockaddr* sa = reinterpret_cast<sockaddr*>(&ss);
  if ((peer ? ::getpeername(fd, sa, &l) : ::getsockname(fd, sa, &l)) < 0) {
    return io::errno_code(errno);
  }
  return UnixAddr::from(SocketAddr::from_raw(sa, l));
}

duet::Result<void> set_nonblocking(int fd) noexcept {
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return io::errno_code(errno);
  return {};
}
}  // namespace

// ---- UnixAddr -------------------------------------------------------------

UnixAddr::UnixAddr() noexcept : a_(make_unix({}, false)) {
  a_.set_len(sizeof(sa_family_t));
}
UnixAddr UnixAddr::path(std::string_view p) noexcept {
  UnixAddr a;
  a.a_ = make_unix(p, false);
  return a;
}
UnixAddr UnixAddr::abstract(std::string_view name) noexcept {
  UnixAddr a;
  a.a_ = make_unix(name, true);
  return a;
}
UnixAddr UnixAddr::from(const SocketAddr& s) noexcept {
  UnixAddr a;
  if (s.family() == AF_UNIX) a.a_ = s;
  return a;
}
bool UnixAddr::is_unnamed() const noexcept {
  return a_.len() <= offsetof(sockaddr_un, sun_path);
}
bool UnixAddr::is_abstract() const noexcept {
  const auto* un = reinterpret_cast<const sockaddr_un*>(a_.raw());
  return !is_unnamed() && un->sun_path[0] == '\0';
}
std::string UnixAddr::name() const {
  if (is_unnamed()) return {};
  const auto* un = reinterpret_cast<const sockaddr_un*>(a_.raw());
  const std::size_t n = a_.len() - offsetof(sockaddr_un, sun_path);
  if (is_abstract()) return std::string(un->sun_path + 1, n - 1);
  return std::string(un->sun_path, ::strnlen(un->sun_path, n));
}

// ---- connect and accept ---------------------------------------------------

UnixConnectFuture::UnixConnectFuture(const UnixAddr& to) noexcept
    : q_{OpKind::connect}, to_(to.socket_addr()) {}

Poll<duet::Result<UnixStream>> UnixConnectFuture::poll(Context& cx) {
  // The future may have moved since it was made.
  q_.src = &sock_;
  q_.addr = &to_;
  if (!sock_.fd) {
    const int fd = make_unix_socket(SOCK_STREAM);
    if (fd < 0) return duet::Result<UnixStream>(io::errno_code(errno));
    sock_.fd.reset(fd);
  }
  auto p = io::detail::poll_op(q_, slot_, cx);
  if (p.is_pending()) return pending;
  if (p.value() < 0) {
    sock_.close();
    return duet::Result<UnixStream>(io::errno_code(static_cast<int>(-p.value())));
  }
  return duet::Result<UnixStream>(UnixStream(std::move(sock_)));
}

UnixAcceptFuture::UnixAcceptFuture(io::detail::Source* s) noexcept : q_{OpKind::accept} {
  q_.src = s;
}

Poll<duet::Result<UnixStream>> UnixAcceptFuture::poll(Context& cx) {
  auto p = io::detail::poll_op(q_, slot_, cx);
  if (p.is_pending()) return pending;
  const long r = p.value();
  if (r < 0) return duet::Result<UnixStream>(io::errno_code(static_cast<int>(-r)));
  return duet::Result<UnixStream>(UnixStream(io::Fd(static_cast<int>(r))));
}

// ---- descriptor passing ---------------------------------------------------

SendFdsFuture::SendFdsFuture(io::detail::Source* s, std::span<const std::byte> data,
                             std::span<const int> fds) noexcept
    : q_{OpKind::send_fds} {
  q_.src = s;
  q_.wbuf = data.data();
  q_.len = data.size();
  q_.fds = fds.data();
  q_.nfds = fds.size();
}

Poll<duet::Result<std::size_t>> SendFdsFuture::poll(Context& cx) {
  if (q_.nfds > io::detail::kMaxFdsPerMsg || (q_.len == 0 && q_.nfds != 0)) {
    return duet::Result<std::size_t>(std::errc::invalid_argument);
  }
  auto p = io::detail::poll_op(q_, slot_, cx);
  if (p.is_pending()) return pending;
  if (p.value() < 0) return duet::Result<std::size_t>(io::errno_code(static_cast<int>(-p.value())));
  return duet::Result<std::size_t>(static_cast<std::size_t>(p.value()));
}

RecvFdsFuture::RecvFdsFuture(io::detail::Source* s, std::span<std::byte> buf,
                             std::span<int> fds) noexcept
    : q_{OpKind::recv_fds} {
  q_.src = s;
  q_.rbuf = buf.data();
  q_.len = buf.size();
  q_.rfds = fds.data();
  q_.nfds = fds.size();
}

Poll<duet::Result<ReceivedWithFds>> RecvFdsFuture::poll(Context& cx) {
  auto p = io::detail::poll_op(q_, slot_, cx);
  if (p.is_pending()) return pending;
  if (p.value() < 0) {
    return duet::Result<ReceivedWithFds>(io::errno_code(static_cast<int>(-p.value())));
  }
  return duet::Result<ReceivedWithFds>(
      ReceivedWithFds{static_cast<std::size_t>(p.value()), q_.nfds, q_.ctrunc});
}

// ---- UnixStream -----------------------------------------------------------

UnixStream::UnixStream(io::Fd fd) noexcept : src_(std::move(fd)) {
  (void)set_nonblocking(src_.fd.get());
}

duet::Result<std::pair<UnixStream, UnixStream>> UnixStream::pair() noexcept {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
    return io::errno_code(errno);
  }
  return std::pair<UnixStream, UnixStream>(UnixStream(io::Fd(sv[0])), UnixStream(io::Fd(sv[1])));
}

io::SizeFuture UnixStream::read(std::span<std::byte> buf) noexcept {
  // An empty buffer reads 0 at once (read_nothing: read(2)'s rule).
  if (buf.empty()) return io::SizeFuture(io::detail::read_nothing(&src_));
  // A flag makes it a one-shot recv: never the multishot queue, whose
  // bytes a later recv_with_fds could not see first.
  OpRequest q{OpKind::recv};
  q.src = &src_;
  q.rbuf = buf.data();
  q.len = buf.size();
  q.flags = MSG_CMSG_CLOEXEC;
  return io::SizeFuture(q);
}

io::SizeFuture UnixStream::write(std::span<const std::byte> data) noexcept {
  OpRequest q{OpKind::send};
  q.src = &src_;
  q.wbuf = data.data();
  q.len = data.size();
  return io::SizeFuture(q);
}

SendFdsFuture UnixStream::send_with_fds(std::span<const std::byte> data,
                                        std::span<const int> fds) noexcept {
  return SendFdsFuture(&src_, data, fds);
}

RecvFdsFuture UnixStream::recv_with_fds(std::span<std::byte> buf, std::span<int> fds) noexcept {
  return RecvFdsFuture(&src_, buf, fds);
}

duet::Result<void> UnixStream::shutdown(Shutdown how) noexcept {
  const int h = how == Shutdown::read ? SHUT_RD : how == Shutdown::write ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(src_.fd.get(), h) < 0) return io::errno_code(errno);
  return {};
}

duet::Result<PeerCred> UnixStream::peer_cred() const noexcept {
  ucred c{};
  socklen_t l = sizeof c;
  if (::getsockopt(src_.fd.get(), SOL_SOCKET, SO_PEERCRED, &c, &l) < 0) {
    return io::errno_code(errno);
  }
  return PeerCred{c.pid, c.uid, c.gid};
}

duet::Result<UnixAddr> UnixStream::local_addr() const noexcept {
  return unix_name(src_.fd.get(), false);
}
duet::Result<UnixAddr> UnixStream::peer_addr() const noexcept {
  return unix_name(src_.fd.get(), true);
}

// ---- UnixListener ---------------------------------------------------------

duet::Result<UnixListener> UnixListener::bind(const UnixAddr& addr, int backlog) noexcept {
  io::Fd fd(make_unix_socket(SOCK_STREAM));
  if (!fd) return io::errno_code(errno);
  const SocketAddr& a = addr.socket_addr();
  if (addr.is_unnamed()) return std::errc::invalid_argument;
  if (::bind(fd.get(), a.raw(), a.len()) < 0) return io::errno_code(errno);
  if (::listen(fd.get(), backlog) < 0) return io::errno_code(errno);
  UnixListener l;
  l.src_.fd = std::move(fd);
  return l;
}

duet::Result<UnixAddr> UnixListener::local_addr() const noexcept {
  return unix_name(src_.fd.get(), false);
}

// ---- UnixDatagram ---------------------------------------------------------

Poll<duet::Result<UnixDatagramFrom>> UnixRecvFromFuture::poll(Context& cx) {
  auto p = inner_.poll(cx);
  if (p.is_pending()) return pending;
  if (!p.value()) return duet::Result<UnixDatagramFrom>(p.value().error());
  return duet::Result<UnixDatagramFrom>(
      UnixDatagramFrom{p.value()->size, UnixAddr::from(p.value()->from)});
}

duet::Result<UnixDatagram> UnixDatagram::unbound() noexcept {
  io::Fd fd(make_unix_socket(SOCK_DGRAM));
  if (!fd) return io::errno_code(errno);
  UnixDatagram d;
  d.src_.fd = std::move(fd);
  return d;
}

duet::Result<UnixDatagram> UnixDatagram::bind(const UnixAddr& addr) noexcept {
  if (addr.is_unnamed()) return std::errc::invalid_argument;
  auto d = unbound();
  if (!d) return d;
  const SocketAddr& a = addr.socket_addr();
  if (::bind(d->src_.fd.get(), a.raw(), a.len()) < 0) return io::errno_code(errno);
  return d;
}

duet::Result<std::pair<UnixDatagram, UnixDatagram>> UnixDatagram::pair() noexcept {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
    return io::errno_code(errno);
  }
  std::pair<UnixDatagram, UnixDatagram> p;
  p.first.src_.fd.reset(sv[0]);
  p.second.src_.fd.reset(sv[1]);
  return p;
}

duet::Result<void> UnixDatagram::connect(const UnixAddr& to) noexcept {
  const SocketAddr& a = to.socket_addr();
  if (::connect(src_.fd.get(), a.raw(), a.len()) < 0) return io::errno_code(errno);
  return {};
}

io::SendToFuture UnixDatagram::send_to(std::span<const std::byte> data,
                                       const UnixAddr& to) noexcept {
  OpRequest q{OpKind::sendto};
  q.src = &src_;
  q.wbuf = data.data();
  q.len = data.size();
  return io::SendToFuture(q, to.socket_addr());
}

io::SizeFuture UnixDatagram::send(std::span<const std::byte> data) noexcept {
  OpRequest q{OpKind::send};
  q.src = &src_;
  q.wbuf = data.data();
  q.len = data.size();
  return io::SizeFuture(q);
}

io::SizeFuture UnixDatagram::recv(std::span<std::byte> buf) noexcept {
  OpRequest q{OpKind::recv};
  q.src = &src_;
  q.rbuf = buf.data();
  q.len = buf.size();
  q.flags = MSG_CMSG_CLOEXEC;  // one-shot: a datagram is one read
  return io::SizeFuture(q);
}

duet::Result<UnixAddr> UnixDatagram::local_addr() const noexcept {
  return unix_name(src_.fd.get(), false);
}

}  // namespace duet::net

// tcp.cpp: TcpStream, TcpListener and their futures: connect (its timeout a
// duet::Sleep on the runtime's wheel), accept, accept_many, and the
// stream's reads, writes and options. The socket calls made here directly
// (socket, bind, listen, shutdown, getsockname, ...) go through the
// descriptor's socket table (duet/io/detail/socket_ops.hpp): the kernel's,
// or a simulated network's for its virtual descriptors.
#include "duet/net/tcp.hpp"

#include "duet/net/socket.hpp"
#include "duet/net/split.hpp"

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <iterator>
#include <memory>

#include "duet/io/detail/backend.hpp"
#include "duet/io/detail/socket_ops.hpp"

namespace duet::net {
namespace {
using io::detail::OpKind;
using io::detail::OpRequest;

using io::detail::socket_ops;

/// A kernel call's result as errno sets it: -1 with errno for -errno.
int as_errno(int r) noexcept {
  if (r >= 0) return r;
  errno = -r;
  return -1;
}
}  // namespace

int make_socket(int family, int type) noexcept {
  return as_errno(io::detail::socket_ops_for_new_socket().socket(family, type));
}

int socket_bind(int fd, const SocketAddr& addr) noexcept {
  return as_errno(socket_ops(fd).bind(fd, addr));
}

int socket_listen(int fd, int backlog) noexcept {
  return as_errno(socket_ops(fd).listen(fd, backlog));
}

duet::Result<SocketAddr> sock_name(int fd, bool peer) noexcept {
  SocketAddr a;
  const int r = socket_ops(fd).name(fd, peer, a);
  if (r < 0) return io::errno_code(-r);
  return a;
}

// ---- ConnectFuture -------------------------------------------------------

ConnectFuture::ConnectFuture(SocketAddr to, std::chrono::nanoseconds timeout) noexcept
    : q_{OpKind::connect}, to_(to) {
  q_.src = &sock_;
  q_.timeout = timeout;
}

ConnectFuture::ConnectFuture(io::Fd sock, SocketAddr to, std::chrono::nanoseconds timeout) noexcept
    : ConnectFuture(to, timeout) {
  // An empty descriptor (a moved-from TcpSocket): the first poll makes one.
  sock_.fd = std::move(sock);
}

Poll<duet::Result<TcpStream>> ConnectFuture::poll(Context& cx) {
  if (err_ != 0) return duet::Result<TcpStream>(io::errno_code(err_));
  // The future may have moved since the request was built.
  q_.src = &sock_;
  q_.addr = &to_;
  if (!sock_.fd) {
    int fd = make_socket(to_.family(), SOCK_STREAM);
    if (fd < 0) return duet::Result<TcpStream>(io::errno_code(errno));
    sock_.fd.reset(fd);
  }
  // A plain thread's connect is ready here (its blocking poll(2) is
  // bounded by q_.timeout); only a pending one on a worker has a deadline.
  auto p = io::detail::poll_op(q_, slot_, cx);
  if (p.is_ready()) {
    deadline_.reset();
    if (p.value() < 0) {
      sock_.close();
      return duet::Result<TcpStream>(io::errno_code(static_cast<int>(-p.value())));
    }
    return duet::Result<TcpStream>(TcpStream(std::move(sock_)));
  }
  if (q_.timeout.count() <= 0) return pending;
  if (!deadline_) {
    deadline_ = std::make_unique<Sleep>(deadline_after(q_.timeout));
  }
  if (deadline_->poll(cx).is_pending()) return pending;
  // The deadline won: cancel the connect (io_uring: an async cancel; epoll:
  // the waker leaves the registration) and close its socket.
  slot_.reset();
  sock_.close();
  deadline_.reset();
  err_ = ETIMEDOUT;
  return duet::Result<TcpStream>(io::errno_code(err_));
}

// ---- AcceptFuture --------------------------------------------------------

AcceptFuture::AcceptFuture(io::detail::Source* s) noexcept : q_{OpKind::accept} {
  q_.src = s;
}

Poll<duet::Result<TcpStream>> AcceptFuture::poll(Context& cx) {
  auto p = io::detail::poll_op(q_, slot_, cx);
  if (p.is_pending()) return pending;
  long r = p.value();
  if (r < 0) return duet::Result<TcpStream>(io::errno_code(static_cast<int>(-r)));
  return duet::Result<TcpStream>(TcpStream(io::Fd(static_cast<int>(r))));
}

// ---- AcceptManyFuture ----------------------------------------------------

AcceptManyFuture::AcceptManyFuture(io::detail::Source* s, std::vector<TcpStream>* out,
                                   std::size_t max) noexcept
    : first_(s), src_(s), out_(out), max_(max == 0 ? 1 : max) {}

Poll<duet::Result<std::size_t>> AcceptManyFuture::poll(Context& cx) {
  auto p = first_.poll(cx);
  if (p.is_pending()) return pending;
  if (!p.value()) return duet::Result<std::size_t>(p.value().error());
  out_->push_back(std::move(p.value()).value());
  std::size_t n = 1;
  // Acquire: the queue's making happens before its use here.
  if (io::detail::AcceptQueue* aq = src_->aq.load(std::memory_order_acquire)) {
    // io_uring's multishot accept: the connections it took in this wake.
    int fds[64];
    while (n < max_) {
      const std::size_t k =
          io::detail::take_queued_accepts(aq, fds, std::min(max_ - n, std::size(fds)));
      for (std::size_t i = 0; i < k; ++i) out_->push_back(TcpStream(io::Fd(fds[i])));
      n += k;
      if (k == 0) break;
    }
    return duet::Result<std::size_t>(n);
  }
  // The rest of the listen queue, without waiting: the listener is
  // non-blocking on every backend, so EAGAIN ends the batch.
  while (n < max_) {
    const int lfd = src_->fd.get();
    const int fd = socket_ops(lfd).accept_now(lfd);
    if (fd < 0) break;
    out_->push_back(TcpStream(io::Fd(fd)));
    ++n;
  }
  return duet::Result<std::size_t>(n);
}

// ---- TcpStream -----------------------------------------------------------

TcpStream::TcpStream(io::Fd fd) noexcept : src_(std::move(fd)) {
  (void)socket_ops(src_.fd.get()).set_nonblocking(src_.fd.get());
}

io::SizeFuture TcpStream::recv(std::span<std::byte> buf, int flags) noexcept {
  // An empty buffer reads 0 at once (read_nothing: read(2)'s rule).
  if (buf.empty()) return io::SizeFuture(io::detail::read_nothing(&src_));
  OpRequest q{OpKind::recv};
  q.src = &src_;
  q.rbuf = buf.data();
  q.len = buf.size();
  q.flags = flags;
  return io::SizeFuture(q);
}

io::SizeFuture TcpStream::send(std::span<const std::byte> data, int flags) noexcept {
  OpRequest q{OpKind::send};
  q.src = &src_;
  q.wbuf = data.data();
  q.len = data.size();
  q.flags = flags;
  return io::SizeFuture(q);
}

namespace {
template <class Span>
std::size_t total_size(std::span<const Span> bufs) noexcept {
  std::size_t n = 0;
  const std::size_t used = std::min(bufs.size(), io::detail::kMaxIov);
  for (std::size_t i = 0; i < used; ++i) n += bufs[i].size();
  return n;
}
}  // namespace

io::SizeFuture TcpStream::read_vectored(std::span<const std::span<std::byte>> bufs) noexcept {
  OpRequest q{OpKind::readv};
  q.src = &src_;
  q.riov = bufs.data();
  q.iovcnt = std::min(bufs.size(), io::detail::kMaxIov);
  q.len = total_size(bufs);
  return io::SizeFuture(q);
}

io::SizeFuture TcpStream::write_vectored(
    std::span<const std::span<const std::byte>> bufs) noexcept {
  OpRequest q{OpKind::writev};
  q.src = &src_;
  q.wiov = bufs.data();
  q.iovcnt = std::min(bufs.size(), io::detail::kMaxIov);
  q.len = total_size(bufs);
  return io::SizeFuture(q);
}

std::pair<OwnedReadHalf, OwnedWriteHalf> TcpStream::into_split() && {
  auto shared = std::make_shared<TcpStream>(std::move(*this));
  return {OwnedReadHalf(shared), OwnedWriteHalf(shared)};
}

duet::Result<std::size_t> TcpStream::try_write(std::span<const std::byte> data) noexcept {
  const int fd = src_.fd.get();
  const long k = socket_ops(fd).send_now(fd, data.data(), data.size());
  if (k >= 0) return static_cast<std::size_t>(k);
  if (k == -EAGAIN || k == -EWOULDBLOCK || k == -EINTR) return std::size_t{0};  // no room now
  return io::errno_code(static_cast<int>(-k));
}

duet::Result<void> TcpStream::shutdown(Shutdown how) noexcept {
  int h = how == Shutdown::read ? SHUT_RD : how == Shutdown::write ? SHUT_WR : SHUT_RDWR;
  const int fd = src_.fd.get();
  if (const int r = socket_ops(fd).shutdown(fd, h); r < 0) return io::errno_code(-r);
  return {};
}

duet::Result<void> TcpStream::set_nodelay(bool on) noexcept {
  return options().set_nodelay(on);
}

SocketOptions TcpStream::options() const noexcept {
  return SocketOptions(src_.fd.get());
}
SocketOptions TcpListener::options() const noexcept {
  return SocketOptions(src_.fd.get());
}

duet::Result<SocketAddr> TcpStream::local_addr() const noexcept {
  return sock_name(src_.fd.get(), false);
}
duet::Result<SocketAddr> TcpStream::peer_addr() const noexcept {
  return sock_name(src_.fd.get(), true);
}

// ---- TcpListener ---------------------------------------------------------

duet::Result<TcpListener> TcpListener::bind(SocketAddr addr, int backlog) noexcept {
  io::Fd fd(make_socket(addr.family(), SOCK_STREAM));
  if (!fd) return io::errno_code(errno);
  (void)SocketOptions(fd.get()).set_reuseaddr(true);
  if (socket_bind(fd.get(), addr) < 0) return io::errno_code(errno);
  if (socket_listen(fd.get(), backlog) < 0) return io::errno_code(errno);
  TcpListener l;
  l.src_.fd = std::move(fd);
  return l;
}

duet::Result<SocketAddr> TcpListener::local_addr() const noexcept {
  return sock_name(src_.fd.get(), false);
}

}  // namespace duet::net

// syscalls.cpp: the syscalls of the operations that duet makes itself, not
// through io_uring: a socket op tried non-blocking (epoll, and a plain
// thread's blocking fallback) and a file op run synchronously (the file
// pool, and the blocking fallback).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "duet/io/detail/io_op.hpp"

namespace duet::io::detail {
namespace {

/// readv/writev as recvmsg/sendmsg on the caller's buffers (sendmsg for
/// MSG_NOSIGNAL: writev(2) would raise SIGPIPE on a reset peer).
long vectored_syscall(const OpRequest& q) {
  iovec iov[kMaxIov];
  const std::size_t n = std::min(q.iovcnt, kMaxIov);
  for (std::size_t i = 0; i < n; ++i) {
    if (q.kind == OpKind::readv) {
      iov[i] = {q.riov[i].data(), q.riov[i].size()};
    } else {
      iov[i] = {const_cast<std::byte*>(q.wiov[i].data()), q.wiov[i].size()};  // NOLINT: not written
    }
  }
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = n;
  if (q.kind == OpKind::readv) return ::recvmsg(q.src->fd.get(), &m, 0);
  return ::sendmsg(q.src->fd.get(), &m, MSG_NOSIGNAL);
}

/// sendmsg/recvmsg with descriptors, on the caller's buffer and a control
/// buffer on the stack.
long fds_syscall(OpRequest& q) {
  alignas(cmsghdr) std::byte ctl[kFdControlBytes];
  iovec iov{};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  put_passed_fds(m, ctl, q);
  if (q.kind == OpKind::send_fds) {
    iov = {const_cast<std::byte*>(q.wbuf), q.len};  // NOLINT: sendmsg does not write it
    return ::sendmsg(q.src->fd.get(), &m, MSG_NOSIGNAL);
  }
  iov = {q.rbuf, q.len};
  const long r = ::recvmsg(q.src->fd.get(), &m, MSG_CMSG_CLOEXEC);
  if (r >= 0) take_passed_fds(m, q);
  return r;
}

/// One try of a socket op's syscall (socket_syscall retries EINTR).
long socket_syscall_once(OpRequest& q) {
  const int fd = q.src->fd.get();
  long r = 0;
  switch (q.kind) {
    case OpKind::recv:
      r = ::recv(fd, q.rbuf, q.len, q.flags);
      break;
    case OpKind::send:
      r = ::send(fd, q.wbuf, q.len, q.flags | MSG_NOSIGNAL);
      break;
    case OpKind::accept: {
      socklen_t l = sizeof(sockaddr_storage);
      r = ::accept4(fd, q.addr != nullptr ? q.addr->raw() : nullptr,
                    q.addr != nullptr ? &l : nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (r >= 0 && q.addr != nullptr) q.addr->set_len(l);
      break;
    }
    case OpKind::connect:
      // Calling connect again reports progress: EALREADY while it runs,
      // EISCONN once connected, or the error that ended it.
      r = ::connect(fd, q.addr->raw(), q.addr->len());
      if (r < 0 && q.started) {
        if (errno == EISCONN) return 0;
        if (errno == EALREADY || errno == EINPROGRESS) return -EAGAIN;
      }
      if (r < 0 && errno == EINPROGRESS) {
        q.started = true;
        return -EAGAIN;
      }
      break;
    case OpKind::recvfrom: {
      socklen_t l = sizeof(sockaddr_storage);
      r = ::recvfrom(fd, q.rbuf, q.len, q.flags, q.addr->raw(), &l);
      if (r >= 0) q.addr->set_len(l);
      break;
    }
    case OpKind::sendto:
      // An address of length 0: to the connected peer (a name with length
      // 0 is EINVAL to the kernel; none at all is the peer).
      r = ::sendto(fd, q.wbuf, q.len, q.flags | MSG_NOSIGNAL,
                   q.addr->len() != 0 ? q.addr->raw() : nullptr, q.addr->len());
      break;
    case OpKind::poll: {
      // The readiness now (level): the revents, or EAGAIN to wait for an
      // edge. poll(2) with a zero timeout never blocks.
      pollfd p{fd, static_cast<short>(q.flags), 0};
      r = ::poll(&p, 1, 0);
      if (r == 0) return -EAGAIN;
      if (r > 0) r = static_cast<unsigned short>(p.revents);
      break;
    }
    case OpKind::readv:
    case OpKind::writev:
      r = vectored_syscall(q);
      break;
    case OpKind::send_fds:
    case OpKind::recv_fds:
      r = fds_syscall(q);
      break;
    case OpKind::wait_writable: {
      pollfd p{fd, POLLOUT, 0};
      r = ::poll(&p, 1, 0);
      if (r == 0) return -EAGAIN;
      if (r > 0) r = 0;
      break;
    }
    default:
      return -EINVAL;
  }
  return r < 0 ? -errno : r;
}

}  // namespace

long socket_syscall(OpRequest& q) {
  for (;;) {
    const long r = socket_syscall_once(q);
    if (r != -EINTR) return r;
    // A signal came in the call: nothing was done, so try again, except for
    // a connect, which goes on in the background once begun (connect(2)).
    if (q.kind == OpKind::connect) {
      q.started = true;
      return -EAGAIN;
    }
  }
}

std::int32_t run_file_op_sync(IoOp* op) noexcept {
  long r = 0;
  switch (op->kind) {
    case OpKind::read_at:
      r = ::pread(op->fd, op->data(), op->len, static_cast<off_t>(op->off));
      break;
    case OpKind::write_at:
      r = ::pwrite(op->fd, op->data(), op->len, static_cast<off_t>(op->off));
      break;
    case OpKind::fsync:
      r = op->flags != 0 ? ::fdatasync(op->fd) : ::fsync(op->fd);
      break;
    case OpKind::openat:
      r = ::openat(AT_FDCWD, reinterpret_cast<const char*>(op->data()), op->flags | O_CLOEXEC,
                   op->mode);
      break;
    default:
      return -EINVAL;
  }
  return r < 0 ? -errno : static_cast<std::int32_t>(r);
}

}  // namespace duet::io::detail

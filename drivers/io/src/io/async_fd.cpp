// async_fd.cpp: AsyncFd's life cycle (duet/io/async_fd.hpp): checked at
// construction, deregistered from the backend at its end, and closed then
// only when it owns the fd. Its waits are OpKind::poll operations, started
// by each backend like any other (uring/op_prep.cpp; epoll through
// socket_syscall's poll(2) and the fd's registration).
#include "duet/io/async_fd.hpp"

#include <fcntl.h>

#include <cerrno>
#include <utility>

namespace duet::io {

duet::Result<AsyncFd> AsyncFd::borrow(int fd) noexcept {
  if (fd < 0 || ::fcntl(fd, F_GETFD) < 0) return duet::Result<AsyncFd>(errno_code(EBADF));
  return AsyncFd(Fd(fd), false);
}

duet::Result<AsyncFd> AsyncFd::adopt(Fd fd) noexcept {
  if (!fd || ::fcntl(fd.get(), F_GETFD) < 0) return duet::Result<AsyncFd>(errno_code(EBADF));
  return AsyncFd(std::move(fd), true);
}

AsyncFd& AsyncFd::operator=(AsyncFd&& o) noexcept {
  if (this != &o) {
    reset();
    src_ = std::move(o.src_);
    owned_ = std::exchange(o.owned_, false);
  }
  return *this;
}

void AsyncFd::reset() noexcept {
  // A borrowed fd: give it back before close(), which then only removes the
  // epoll registration (EPOLL_CTL_DEL names the fd, still open: the caller
  // closes it after us).
  if (!owned_) (void)src_.fd.release();
  (void)src_.close();
  owned_ = false;
}

}  // namespace duet::io

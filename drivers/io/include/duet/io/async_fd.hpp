// duet/io/async_fd.hpp: readiness of any file descriptor (Tokio's AsyncFd):
// await "readable" or "writable" on an fd that duet does not read or write
// itself (libpq's socket, a curl multi socket, an inotify fd, an eventfd, a
// pipe), on either backend and from coroutines and fibers.
//
// Example (coroutine):
//   int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);  // the caller's fd
//   auto a = duet::io::AsyncFd::borrow(efd);
//   while (a) {
//     auto r = co_await a->readable();                 // duet::Result<Readiness>
//     if (!r) break;                                   // the OS reason (EBADF...)
//     std::uint64_t v = 0;
//     if (::read(efd, &v, sizeof v) < 0 && errno == EAGAIN) continue;  // consumed
//     use(v);
//   }
//
// The rule (level, nothing cached): readable() is ready when the fd is
// readable at the moment of its check (poll(2) semantics: an eventfd with a
// non-zero count, a pipe with bytes or a closed write end), with the mask
// that poll(2) reports; otherwise it waits for the next change. AsyncFd keeps
// no readiness state between calls, so there is nothing to clear (no
// clear_ready): the caller does its non-blocking I/O and, on EAGAIN, awaits
// again. A wake whose readiness another reader consumed first is therefore
// harmless: the caller's EAGAIN sends it back to wait. The fd must be
// non-blocking for that loop (AsyncFd does not change its flags: a borrowed
// fd's flags belong to its owner).
//
// Backends: io_uring arms a one-shot IORING_OP_POLL_ADD per wait (level: it
// completes at once when the fd is ready); epoll checks with poll(2) and
// then waits on the fd's edge-triggered registration in the worker's set
// (one epoll_ctl per AsyncFd, not per wait). A plain thread blocks in
// poll(2). Dropping a pending future cancels the poll (io_uring async
// cancel; epoll forgets the waker); no buffer is involved.
//
// Ownership: borrow() leaves the fd to the caller, who keeps it open until
// the AsyncFd is gone (and closes it after); adopt() takes an Fd and closes
// it on destruction. One AsyncFd per fd: epoll registers an fd once per set
// (a second registration fails with EEXIST).
#pragma once

#include "duet/export.hpp"

#include <poll.h>

#include "duet/io/fd.hpp"
#include "duet/io/op.hpp"
#include "duet/io/result.hpp"
#include "duet/poll.hpp"
#include "duet/result.hpp"

namespace duet::io {

/// Which readiness to wait for.
enum class Interest : short {
  readable = POLLIN,
  writable = POLLOUT,
};

/// What poll(2) reported for the fd: the requested side, and the
/// conditions it always reports (hang-up, error).
struct DUET_API Readiness {
  short revents = 0;
  [[nodiscard]] bool readable() const noexcept { return (revents & POLLIN) != 0; }
  [[nodiscard]] bool writable() const noexcept { return (revents & POLLOUT) != 0; }
  /// The peer or the write end is gone (POLLHUP, POLLRDHUP).
  [[nodiscard]] bool hangup() const noexcept { return (revents & (POLLHUP | POLLRDHUP)) != 0; }
  /// An error is pending on the fd (POLLERR), or it is not open (POLLNVAL).
  [[nodiscard]] bool error() const noexcept { return (revents & (POLLERR | POLLNVAL)) != 0; }
};

/// readable() / writable(): duet::Result<Readiness>. An fd that is not open gives
/// EBADF.
class [[nodiscard]] DUET_API ReadyFuture {
 public:
  ReadyFuture(detail::Source* s, Interest i) noexcept : q_(detail::OpKind::poll) {
    q_.src = s;
    q_.flags = static_cast<short>(i);
  }
  Poll<duet::Result<Readiness>> poll(Context& cx) {
    auto p = detail::poll_op(q_, slot_, cx);
    if (p.is_pending()) return pending;
    const long r = p.value();
    if (r < 0) return duet::Result<Readiness>(errno_code(static_cast<int>(-r)));
    // POLLNVAL: poll(2) and io_uring report a closed fd as a mask, not an
    // error; it is one.
    if ((r & POLLNVAL) != 0) return duet::Result<Readiness>(errno_code(EBADF));
    return duet::Result<Readiness>(Readiness{static_cast<short>(r)});
  }

 private:
  detail::OpRequest q_;
  detail::OpSlot slot_;
};

class DUET_API AsyncFd {
 public:
  AsyncFd() noexcept = default;
  /// Waits on `fd` without owning it. EBADF when `fd` is not open.
  static duet::Result<AsyncFd> borrow(int fd) noexcept;
  /// Waits on `fd` and closes it on destruction. EBADF when it is not open.
  static duet::Result<AsyncFd> adopt(Fd fd) noexcept;
  AsyncFd(AsyncFd&& o) noexcept = default;
  AsyncFd& operator=(AsyncFd&& o) noexcept;
  AsyncFd(const AsyncFd&) = delete;
  AsyncFd& operator=(const AsyncFd&) = delete;
  ~AsyncFd() { reset(); }

  ReadyFuture readable() noexcept { return ReadyFuture(&src_, Interest::readable); }
  ReadyFuture writable() noexcept { return ReadyFuture(&src_, Interest::writable); }
  ReadyFuture ready(Interest i) noexcept { return ReadyFuture(&src_, i); }

  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }
  /// Whether the destructor closes the fd (adopt) or leaves it (borrow).
  [[nodiscard]] bool owns() const noexcept { return owned_; }
  /// Deregisters from the backend; closes the fd when owned. Every future
  /// from this AsyncFd must be done or dropped first.
  void reset() noexcept;

 private:
  AsyncFd(Fd fd, bool owned) noexcept : src_(std::move(fd)), owned_(owned) {}
  detail::Source src_;
  bool owned_ = false;
};

}  // namespace duet::io

// duet/io/detail/io_op.hpp (a seam of duet::drivers, not part of the API): what every backend's
// operations share: IoOp (an operation the kernel or a blocking pool job works on after poll_op
// returned), the spin lock that guards it, epoll's file operations on the blocking pool, and the
// syscalls of the backends that make them themselves (epoll, a plain thread's blocking fallback).
// The backends' own state is in uring/uring_driver.hpp and
// epoll/epoll_driver.hpp; the interface poll_op calls them through is
// duet/io/detail/backend.hpp.
#pragma once

#include <linux/time_types.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "duet/export.hpp"
#include "duet/io/op.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/waker.hpp"

namespace duet::io::detail {

/// The lock for sections of a few stores (a waker swap): the sync
/// primitives' test-and-test-and-set lock, one spin lock for the library.
using OpLock = duet::detail::SpinLock;

class IoBackend;

/// One in-flight operation. Layout: this header, then `cap` bytes of data
/// buffer (the read destination or the copied write source; a path for
/// openat). Allocated by op_alloc (io/op_memory.hpp), 64-byte aligned;
/// freed when the last reference goes.
///
/// References: one for the future (dropped by op_abandon, or when the poll
/// that sees completion takes the result), one for the kernel or the pool job while
/// the operation is in flight (dropped when its CQE is reaped or the job
/// ran). A cross-thread cancel request holds the future's reference until
/// the owning driver has processed it.
struct IoOp {
  std::atomic<std::uint32_t> refs{1};
  OpLock lock;
  bool done = false;       // res is final (guarded by lock)
  bool abandoned = false;  // the future is gone (guarded by lock)
  OpKind kind;
  std::int32_t res = 0;
  Waker waker;  // guarded by lock
  IoBackend* owner =
      nullptr;           // cancels it in flight (the ring it went to); null: a blocking pool job
  IoOp* next = nullptr;  // cancel queue link
  IoOp* cut_next = nullptr;  // interrupt queue link (a cut: at most once per op)
  int fd = -1;
  int flags = 0;
  unsigned mode = 0;
  std::uint64_t off = 0;
  std::size_t len = 0;
  std::size_t cap = 0;
  socklen_t addrlen = 0;
  sockaddr_storage addr{};
  msghdr msg{};
  iovec iov{};

  [[nodiscard]] std::byte* data() noexcept { return reinterpret_cast<std::byte*>(this + 1); }

  static IoOp* make(OpKind k, std::size_t cap);
  void ref() noexcept {
    // Relaxed: the caller holds a reference already (as shared_ptr).
    refs.fetch_add(1, std::memory_order_relaxed);
  }
  void unref() noexcept;
  /// The kernel or the pool job finished: store the result, wake the waiter, drop
  /// the in-flight reference.
  DUET_API void complete(std::int32_t r) noexcept;
  /// The future's poll: true with `out` set when done, else registers the
  /// waker.
  bool poll(const Waker& w, std::int32_t& out) noexcept;
};

// ---- an operation's IoOp (io_op.cpp) ----------------------------------------

/// An IoOp for `q`: its arguments, and a copy of the data a write sends.
DUET_API IoOp* build_op(const OpRequest& q);
/// The poll that saw `slot`'s IoOp complete with `r`: copies what a read
/// got into the caller's buffer, hands a new descriptor over, drops the
/// future's reference.
Poll<long> finish_op(OpRequest& q, OpSlot& slot, std::int32_t r);

[[nodiscard]] inline bool is_file_op(OpKind k) noexcept {
  return k == OpKind::read_at || k == OpKind::write_at || k == OpKind::fsync || k == OpKind::openat;
}
/// Whether `q` waits for its socket to be writable (else readable). A
/// readiness poll waits for one side only (AsyncFd asks for POLLIN or
/// POLLOUT, never both).
[[nodiscard]] inline bool is_write_side(const OpRequest& q) noexcept {
  if (q.kind == OpKind::poll) return (q.flags & POLLOUT) != 0;
  return q.kind == OpKind::send || q.kind == OpKind::sendto || q.kind == OpKind::connect ||
         q.kind == OpKind::writev || q.kind == OpKind::send_fds || q.kind == OpKind::wait_writable;
}

// ---- descriptor passing (io_op.cpp) -------------------------------------------

/// The control buffer of a send_fds or recv_fds: room for kMaxFdsPerMsg.
inline constexpr std::size_t kFdControlBytes = CMSG_SPACE(sizeof(int) * kMaxFdsPerMsg);
/// Where an op's control buffer starts in its data: after the bytes,
/// aligned for cmsghdr.
[[nodiscard]] inline std::size_t fd_control_offset(std::size_t len) noexcept {
  return (len + alignof(cmsghdr) - 1) / alignof(cmsghdr) * alignof(cmsghdr);
}
/// Fills `m`'s control buffer (kFdControlBytes at `ctl`) with q's descriptors.
void put_passed_fds(msghdr& m, std::byte* ctl, const OpRequest& q) noexcept;
/// Moves the descriptors `m` received into q.rfds (q.nfds: room, then how
/// many), closing any beyond the room; sets q.ctrunc.
void take_passed_fds(const msghdr& m, OpRequest& q) noexcept;

// ---- syscalls outside io_uring (syscalls.cpp) -------------------------------

/// The syscall of a socket op (non-blocking), as -errno on failure; -EAGAIN
/// when it must wait for readiness; never -EINTR (a signal in the call is
/// retried).
long socket_syscall(OpRequest& q);
/// Runs a file op synchronously (a blocking pool job or the blocking fallback).
std::int32_t run_file_op_sync(IoOp* op) noexcept;

// ---- files on epoll and the blocking fallback (file_job.cpp, blocking.cpp) --

/// Starts file op `q` as a job of the blocking pool (duet/blocking.hpp):
/// pending, its IoOp in `slot`. For epoll: the kernel has no readiness for
/// regular files.
DUET_API Poll<long> start_on_blocking_pool(OpRequest& q, OpSlot& slot, Context& cx);

/// A plain thread (no driver): runs `q` to completion, blocking the thread.
long blocking_op(OpRequest& q);

}  // namespace duet::io::detail

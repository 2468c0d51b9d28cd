// blocking.cpp: the blocking fallback: an operation polled on a plain thread
// (no runtime, so no driver) runs to completion there, as a blocking call
// would (poll(2), then the call, for a socket; a connect's poll(2) is
// bounded by its timeout).
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <optional>

#include "duet/io/detail/io_op.hpp"

namespace duet::io::detail {
namespace {

/// A file op, through an IoOp as on the file pool (the same syscalls).
long blocking_file_op(OpRequest& q) {
  IoOp* op = build_op(q);
  long r = run_file_op_sync(op);
  if (r >= 0 && q.kind == OpKind::read_at) {
    std::memcpy(q.rbuf, op->data(), static_cast<std::size_t>(r));
  }
  op->res = -1;  // an opened fd belongs to the caller
  op->unref();
  return r;
}

/// The milliseconds poll(2) waits: until `deadline`, rounded up (never
/// early); -1 (no limit) without one.
int poll_wait_ms(std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (!deadline) return -1;
  const auto left = *deadline - std::chrono::steady_clock::now();
  if (left <= left.zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<long long>(ms, std::numeric_limits<int>::max()));
}

}  // namespace

long blocking_op(OpRequest& q) {
  if (is_file_op(q.kind)) return blocking_file_op(q);
  // A connect's timeout bounds its wait for writability, as SO_SNDTIMEO
  // bounds a blocking connect(2): ETIMEDOUT when it passes first.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (q.kind == OpKind::connect && q.timeout.count() > 0) {
    deadline = std::chrono::steady_clock::now() + q.timeout;
  }
  for (;;) {
    long r = socket_syscall(q);
    if (r != -EAGAIN) return r;
    pollfd p{q.src->fd.get(), static_cast<short>(is_write_side(q) ? POLLOUT : POLLIN), 0};
    if (::poll(&p, 1, poll_wait_ms(deadline)) == 0 && deadline &&
        std::chrono::steady_clock::now() >= *deadline) {
      return -ETIMEDOUT;
    }
  }
}

}  // namespace duet::io::detail

// blocking.cpp: the blocking fallback: an operation polled on a plain thread
// (no runtime, so no driver) runs to completion there, as a blocking call
// would (poll(2), then the call, for a socket).
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "io/io_op.hpp"

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

void blocking_sleep(std::chrono::nanoseconds d) {
  auto ns = d.count();
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace

long blocking_op(OpRequest& q) {
  if (is_file_op(q.kind)) return blocking_file_op(q);
  if (q.kind == OpKind::timeout) {
    blocking_sleep(q.timeout);
    return 0;
  }
  for (;;) {
    long r = socket_syscall(q);
    if (r != -EAGAIN) return r;
    pollfd p{q.src->fd.get(), static_cast<short>(is_write_side(q) ? POLLOUT : POLLIN), 0};
    ::poll(&p, 1, -1);
  }
}

}  // namespace duet::io::detail

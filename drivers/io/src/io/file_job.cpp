// file_job.cpp: a file operation on epoll (regular files have no
// readiness) as a job of the blocking pool (duet/blocking.hpp), the one
// pool of helper threads, through the same IoOp protocol as io_uring: the
// job writes only into the IoOp's buffer, and a job whose future was
// dropped before it started is skipped.
#include <cerrno>

#include "duet/blocking.hpp"
#include "duet/io/detail/io_op.hpp"

namespace duet::io::detail {

namespace {

/// Runs `op` on the pool thread and completes it (the in-flight reference
/// goes with the completion).
void run_file_job(IoOp* op) noexcept {
  op->lock.lock();
  const bool skip = op->abandoned;
  op->lock.unlock();
  op->complete(skip ? -ECANCELED : run_file_op_sync(op));
}

}  // namespace

Poll<long> start_on_blocking_pool(OpRequest& q, OpSlot& slot, Context& cx) {
  IoOp* op = build_op(q);
  op->waker = cx.waker();
  slot.op = op;
  op->ref();  // the job's: the in-flight reference
  // Detached: the IoOp, not the job's handle, carries the result. A job
  // still queued at process exit never starts, and its future never
  // completes: nothing is left to wait for it then.
  (void)duet::spawn_blocking([op]() noexcept { run_file_job(op); });
  return pending;
}

}  // namespace duet::io::detail

// poll_op.cpp: poll_op, the one entry of every socket and file operation:
// an operation in flight is collected from its IoOp; a new one starts on the
// calling worker's backend (duet/io/detail/backend.hpp), or blocks a plain thread. Also
// the backend interface's defaults, and the Source's close, which lets go of
// whichever backend state it holds.
#include <cerrno>
#include <utility>

#include "duet/io/detail/backend.hpp"
#include "duet/io/detail/io_op.hpp"
#include "duet/io/result.hpp"

namespace duet::io::detail {

std::optional<Poll<long>> IoBackend::start_multishot_recv(OpRequest& /*q*/, Context& /*cx*/) {
  return std::nullopt;
}

std::optional<Poll<long>> IoBackend::start_multishot_accept(OpRequest& /*q*/, OpSlot& /*slot*/,
                                                            Context& /*cx*/) {
  return std::nullopt;
}

void IoBackend::cancel(IoOp* op) noexcept {
  op->unref();
}

void IoBackend::interrupt(IoOp* /*op*/) noexcept {}

namespace {

/// A recv that a multishot recv may serve: no flags (MSG_PEEK and the like
/// need their own syscall) and room for at least one byte.
bool is_plain_recv(const OpRequest& q) {
  return q.kind == OpKind::recv && q.flags == 0 && q.len > 0;
}

/// No backend: a plain thread blocks; a worker of the `none` driver has no
/// I/O (it must not block).
Poll<long> start_without_backend(OpRequest& q) {
  if (duet::detail::current_driver() == nullptr) return blocking_op(q);
  return static_cast<long>(-ENOTSUP);
}

/// A vectored read on a socket whose bytes arrive through a multishot
/// queue reads into its first non-empty buffer as a plain recv (a short
/// read, which readv allows): bytes already queued must come first.
void as_recv_into_first_buffer(OpRequest& q) {
  for (std::size_t i = 0; i < q.iovcnt; ++i) {
    const std::span<std::byte> b = q.riov[i];
    if (!b.empty()) {
      // riov and rbuf share a word (OpRequest): read it before the write.
      q.kind = OpKind::recv;
      q.rbuf = b.data();
      q.len = b.size();
      return;
    }
  }
}

/// Collects the operation in flight, or starts it.
Poll<long> collect_or_start(OpRequest& q, OpSlot& slot, Context& cx) {
  if (slot.op != nullptr) {
    std::int32_t r = 0;
    if (!slot.op->poll(cx.waker(), r)) return pending;
    return finish_op(q, slot, r);
  }
  // A vectored transfer of nothing (and so a stream's read into an empty
  // buffer, read_nothing) is 0 at once: nothing to wait for.
  if ((q.kind == OpKind::readv || q.kind == OpKind::writev) && q.len == 0) return 0L;
  if (q.kind == OpKind::readv && q.src->rq != nullptr) as_recv_into_first_buffer(q);
  // Bytes a multishot recv already queued come first, on whatever thread
  // reads now (the socket's queue may belong to another worker's ring).
  if (is_plain_recv(q) && q.src->rq != nullptr) {
    if (auto r = poll_queued_recv(q, cx)) return *r;
  }
  // Likewise the connections a multishot accept already took.
  // Acquire: the queue's making happens before its use here.
  if (q.kind == OpKind::accept && q.src->aq.load(std::memory_order_acquire) != nullptr) {
    if (auto r = poll_queued_accept(q, slot, cx)) return *r;
  }
  IoBackend* b = current_backend();
  if (b == nullptr) return start_without_backend(q);
  if (is_plain_recv(q)) {
    if (auto r = b->start_multishot_recv(q, cx)) return *r;
  }
  if (q.kind == OpKind::accept) {
    if (auto r = b->start_multishot_accept(q, slot, cx)) return *r;
  }
  return b->start(q, slot, cx);
}

}  // namespace

Poll<long> poll_op(OpRequest& q, OpSlot& slot, Context& cx) {
  Poll<long> p = collect_or_start(q, slot, cx);
  // Done after waiting in a list: its entry and its count there go now.
  if (p.is_ready() && slot.wait != OpSlot::Wait::none) op_withdraw(slot);
  return p;
}

Poll<long> poll_cut_op(OpRequest& q, OpSlot& slot, Context& cx) {
  if (slot.op == nullptr) {
    // Waiting in a list, or not started: nothing moved.
    if (slot.wait != OpSlot::Wait::none) op_withdraw(slot);
    return static_cast<long>(-ECANCELED);
  }
  if (!slot.cut) {
    slot.cut = true;
    // owner: set when the op started and never changed; null for a pool job.
    if (slot.op->owner != nullptr) slot.op->owner->interrupt(slot.op);
  }
  std::int32_t r = 0;
  if (!slot.op->poll(cx.waker(), r)) return pending;
  return finish_op(q, slot, r);
}

void op_withdraw(OpSlot& slot) noexcept {
  if (slot.wait == OpSlot::Wait::accept) {
    withdraw_accept(slot);
  } else {
    withdraw_registration(slot);
  }
}

void op_rekey(OpSlot& from, OpSlot& to) noexcept {
  if (from.wait == OpSlot::Wait::accept) {
    rekey_accept(from, to);
  } else {
    rekey_registration(from, to);
  }
}

duet::Result<void> Source::close() noexcept {
  // AcqRel: takes the registration whichever worker made it.
  if (Registration* r = reg.exchange(nullptr, std::memory_order_acq_rel)) registration_release(r);
  if (rq != nullptr) recv_queue_release(std::exchange(rq, nullptr));
  // AcqRel: takes the queue whichever worker made it.
  if (AcceptQueue* a = aq.exchange(nullptr, std::memory_order_acq_rel)) accept_queue_release(a);
  if (!fd) return {};
  if (fd.reset() != 0) return errno_code(errno);
  return {};
}

}  // namespace duet::io::detail

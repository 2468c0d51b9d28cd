// io_op.cpp: the IoOp life cycle: made from an OpRequest when an operation
// starts, completed by the kernel or the file pool, collected by the
// future's poll (finish_op) or abandoned by its drop, freed by the last of
// its two references (duet/io/detail/io_op.hpp).
#include "duet/io/detail/io_op.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "duet/io/detail/backend.hpp"
#include "io/op_memory.hpp"

namespace duet::io::detail {

IoOp* IoOp::make(OpKind k, std::size_t cap) {
  void* mem = op_alloc(sizeof(IoOp) + cap);
  auto* op = std::construct_at(static_cast<IoOp*>(mem));
  op->kind = k;
  op->cap = cap;
  return op;
}

void IoOp::unref() noexcept {
  // AcqRel: the last owner must see every write of the others (the result,
  // the kernel's data) before it frees the block.
  if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // A new descriptor that no future took (the future was dropped after
  // completion): close it, or it would leak.
  if (done && res >= 0 && (kind == OpKind::accept || kind == OpKind::openat)) ::close(res);
  // Likewise descriptors a recv_fds received and no future took.
  if (done && res >= 0 && kind == OpKind::recv_fds) {
    OpRequest none;  // no room: every descriptor is closed
    take_passed_fds(msg, none);
  }
  std::size_t sz = sizeof(IoOp) + cap;
  std::destroy_at(this);
  op_free(this, sz);
}

void IoOp::complete(std::int32_t r) noexcept {
  lock.lock();
  done = true;
  res = r;
  Waker w = std::move(waker);
  lock.unlock();
  if (w) std::move(w).wake();
  unref();
}

bool IoOp::poll(const Waker& w, std::int32_t& out) noexcept {
  lock.lock();
  if (done) {
    out = res;
    lock.unlock();
    return true;
  }
  if (!waker.will_wake(w)) waker = w;
  lock.unlock();
  return false;
}

void op_abandon(IoOp* op) noexcept {
  op->lock.lock();
  const bool done = op->done;
  op->abandoned = true;
  Waker old = std::move(op->waker);
  op->lock.unlock();
  if (!done && op->owner != nullptr) {
    op->owner->cancel(op);  // passes our reference
    return;
  }
  // Done, or a pool job (the pool skips abandoned jobs that have not
  // started; one that runs writes only into the op's own buffer).
  op->unref();
}

namespace {

/// The bytes behind the IoOp: the data a read receives or a write sends,
/// or openat's path.
std::size_t op_capacity(const OpRequest& q) {
  switch (q.kind) {
    case OpKind::recv:
    case OpKind::send:
    case OpKind::recvfrom:
    case OpKind::sendto:
    case OpKind::read_at:
    case OpKind::write_at:
    case OpKind::readv:
    case OpKind::writev:
      return q.len;
    case OpKind::send_fds:
    case OpKind::recv_fds:
      return fd_control_offset(q.len) + kFdControlBytes;
    case OpKind::openat:
      return std::strlen(q.path) + 1;
    default:
      return 0;
  }
}

/// A vectored read's `n` bytes, received contiguously in the op, copied
/// into the caller's buffers in order.
void scatter(const OpRequest& q, const std::byte* from, std::size_t n) {
  for (std::size_t i = 0; i < q.iovcnt && n > 0; ++i) {
    const std::size_t k = std::min(n, q.riov[i].size());
    if (k != 0) std::memcpy(q.riov[i].data(), from, k);
    from += k;
    n -= k;
  }
}

}  // namespace

void put_passed_fds(msghdr& m, std::byte* ctl, const OpRequest& q) noexcept {
  m.msg_control = ctl;
  if (q.kind == OpKind::recv_fds) {
    m.msg_controllen = kFdControlBytes;
    return;
  }
  m.msg_controllen = 0;
  const std::size_t n = std::min(q.nfds, kMaxFdsPerMsg);
  if (n == 0) {
    m.msg_control = nullptr;
    return;
  }
  std::memset(ctl, 0, kFdControlBytes);
  m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * n);
  std::memcpy(CMSG_DATA(c), q.fds, sizeof(int) * n);
}

void take_passed_fds(const msghdr& m, OpRequest& q) noexcept {
  std::size_t got = 0;
  const std::size_t room = q.rfds != nullptr ? q.nfds : 0;
  if (m.msg_control != nullptr && m.msg_controllen >= sizeof(cmsghdr)) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&m), c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < n; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (got < room) {
          q.rfds[got++] = fd;
        } else {
          ::close(fd);  // no room: never leaked
          q.ctrunc = true;
        }
      }
    }
  }
  q.nfds = got;
  if ((m.msg_flags & MSG_CTRUNC) != 0) q.ctrunc = true;
}

IoOp* build_op(const OpRequest& q) {
  IoOp* op = IoOp::make(q.kind, op_capacity(q));
  op->fd = q.src != nullptr ? q.src->fd.get() : -1;
  op->len = q.len;
  // Only a kind's own members are read (OpRequest's unions).
  op->off = q.kind == OpKind::read_at || q.kind == OpKind::write_at ? q.off : 0;
  op->flags = q.flags;
  op->mode = q.kind == OpKind::openat ? q.mode : 0;
  switch (q.kind) {
    case OpKind::send:
    case OpKind::sendto:
    case OpKind::write_at:
      // The kernel reads the op's copy, never the caller's buffer.
      if (q.len != 0) std::memcpy(op->data(), q.wbuf, q.len);
      break;
    case OpKind::writev: {
      // Gathered into the op: one send of all of it.
      std::byte* to = op->data();
      for (std::size_t i = 0; i < q.iovcnt; ++i) {
        if (!q.wiov[i].empty()) std::memcpy(to, q.wiov[i].data(), q.wiov[i].size());
        to += q.wiov[i].size();
      }
      break;
    }
    case OpKind::openat:
      std::memcpy(op->data(), q.path, op->cap);
      break;
    case OpKind::send_fds:
    case OpKind::recv_fds:
      // The kernel reads or writes the op's copy and control buffer only.
      if (q.kind == OpKind::send_fds && q.len != 0) std::memcpy(op->data(), q.wbuf, q.len);
      op->iov = {op->data(), q.len};
      op->msg.msg_iov = &op->iov;
      op->msg.msg_iovlen = 1;
      put_passed_fds(op->msg, op->data() + fd_control_offset(q.len), q);
      break;
    default:
      break;
  }
  if (q.kind == OpKind::connect || q.kind == OpKind::sendto) {
    std::memcpy(&op->addr, q.addr->raw(), q.addr->len());
    op->addrlen = q.addr->len();
  }
  return op;
}

Poll<long> finish_op(OpRequest& q, OpSlot& slot, std::int32_t r) {
  IoOp* op = slot.op;
  if (r >= 0) {
    switch (q.kind) {
      case OpKind::recv:
      case OpKind::read_at:
        std::memcpy(q.rbuf, op->data(), static_cast<std::size_t>(r));
        break;
      case OpKind::readv:
        scatter(q, op->data(), static_cast<std::size_t>(r));
        break;
      case OpKind::recv_fds:
        std::memcpy(q.rbuf, op->data(), static_cast<std::size_t>(r));
        take_passed_fds(op->msg, q);
        break;
      case OpKind::recvfrom:
        std::memcpy(q.rbuf, op->data(), static_cast<std::size_t>(r));
        *q.addr =
            net::SocketAddr::from_raw(reinterpret_cast<sockaddr*>(&op->addr), op->msg.msg_namelen);
        break;
      case OpKind::accept:
        if (q.addr != nullptr)
          *q.addr = net::SocketAddr::from_raw(reinterpret_cast<sockaddr*>(&op->addr), op->addrlen);
        break;
      default:
        break;
    }
  }
  // The descriptor now belongs to the caller: the op must not close it.
  op->res = -1;
  slot.op = nullptr;
  op->unref();
  return static_cast<long>(r);
}

}  // namespace duet::io::detail

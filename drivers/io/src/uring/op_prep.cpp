// op_prep.cpp: how an operation starts on io_uring: its IoOp (the kernel
// reads and writes only that), one SQE prepared for its kind, armed on the
// calling worker's ring; the SQE goes to the kernel with the rest of the
// tick's in one io_uring_enter (UringDriver::poll).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include "uring/uring_driver.hpp"

namespace duet::io::detail {
namespace {

void prep_recvmsg_or_sendmsg(io_uring_sqe* s, IoOp* op) {
  op->iov = {op->data(), op->len};
  op->msg.msg_name = &op->addr;
  op->msg.msg_namelen = op->kind == OpKind::recvfrom ? sizeof(op->addr) : op->addrlen;
  op->msg.msg_iov = &op->iov;
  op->msg.msg_iovlen = 1;
  if (op->kind == OpKind::recvfrom) {
    io_uring_prep_recvmsg(s, op->fd, &op->msg, op->flags);
  } else {
    io_uring_prep_sendmsg(s, op->fd, &op->msg, op->flags | MSG_NOSIGNAL);
  }
}

void prep_sqe(io_uring_sqe* s, IoOp* op) {
  switch (op->kind) {
    case OpKind::recv:
    case OpKind::readv:  // one recv into the op; finish_op scatters it
      io_uring_prep_recv(s, op->fd, op->data(), op->len, op->flags);
      break;
    case OpKind::send:
    case OpKind::writev:  // the gathered copy in one send
      io_uring_prep_send(s, op->fd, op->data(), op->len, op->flags | MSG_NOSIGNAL);
      break;
    case OpKind::accept:
      op->addrlen = sizeof(op->addr);
      io_uring_prep_accept(s, op->fd, reinterpret_cast<sockaddr*>(&op->addr), &op->addrlen,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
      break;
    case OpKind::connect:
      io_uring_prep_connect(s, op->fd, reinterpret_cast<sockaddr*>(&op->addr), op->addrlen);
      break;
    case OpKind::recvfrom:
    case OpKind::sendto:
      prep_recvmsg_or_sendmsg(s, op);
      break;
    case OpKind::read_at:
      io_uring_prep_read(s, op->fd, op->data(), static_cast<unsigned>(op->len), op->off);
      break;
    case OpKind::write_at:
      io_uring_prep_write(s, op->fd, op->data(), static_cast<unsigned>(op->len), op->off);
      break;
    case OpKind::fsync:
      io_uring_prep_fsync(s, op->fd, op->flags != 0 ? IORING_FSYNC_DATASYNC : 0);
      break;
    case OpKind::openat:
      io_uring_prep_openat(s, AT_FDCWD, reinterpret_cast<const char*>(op->data()),
                           op->flags | O_CLOEXEC, op->mode);
      break;
    case OpKind::poll:
      // One-shot and level: completes at once when the fd is ready now,
      // with the revents mask as the result.
      io_uring_prep_poll_add(s, op->fd, static_cast<unsigned>(op->flags));
      break;
    case OpKind::send_fds:  // op->msg: the op's copy and control (build_op)
      io_uring_prep_sendmsg(s, op->fd, &op->msg, MSG_NOSIGNAL);
      break;
    case OpKind::recv_fds:
      io_uring_prep_recvmsg(s, op->fd, &op->msg, MSG_CMSG_CLOEXEC);
      break;
    case OpKind::wait_writable:
      io_uring_prep_poll_add(s, op->fd, POLLOUT);
      break;
  }
}

}  // namespace

Poll<long> UringDriver::start(OpRequest& q, OpSlot& slot, Context& cx) {
  IoOp* op = build_op(q);
  io_uring_sqe* s = sqe();
  prep_sqe(s, op);
  op->waker = cx.waker();
  arm(s, op);
  slot.op = op;
  return pending;
}

}  // namespace duet::io::detail

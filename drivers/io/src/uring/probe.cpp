// probe.cpp: what the running kernel's io_uring supports, probed once per
// process (uring_features()): a ring can be set up and every opcode duet
// submits is supported (`available`, which the automatic choice of backend
// asks), and the optional features each behind its own probe (setup flags
// tried, a buffer ring registered and a multishot recv run). docs/io.md
// lists them.
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include <cstddef>
#include <cstdint>

#include "duet/io/stats.hpp"

namespace duet::io {
namespace detail {
namespace {

/// Registers a one-buffer ring and runs a multishot recv over a socketpair:
/// the kernel that accepts both sets buf_ring and recv_multishot.
void probe_buf_ring_and_recv_multishot(UringFeatures& f) {
  io_uring ring{};
  if (io_uring_queue_init(8, &ring, 0) != 0) return;
  const long page = ::sysconf(_SC_PAGESIZE);
  void* mem = ::mmap(nullptr, static_cast<std::size_t>(page) * 2, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int sv[2] = {-1, -1};
  if (mem != MAP_FAILED) {
    auto* br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(br);
    reg.ring_entries = 1;
    reg.bgid = 0;
    if (io_uring_register_buf_ring(&ring, &reg, 0) == 0) {
      f.buf_ring = true;
      io_uring_buf_ring_init(br);
      io_uring_buf_ring_add(br, static_cast<char*>(mem) + page, 64, 0, io_uring_buf_ring_mask(1),
                            0);
      io_uring_buf_ring_advance(br, 1);
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0 &&
          ::write(sv[1], "x", 1) == 1) {
        io_uring_sqe* s = io_uring_get_sqe(&ring);
        io_uring_prep_recv_multishot(s, sv[0], nullptr, 0, 0);
        s->flags |= IOSQE_BUFFER_SELECT;
        s->buf_group = 0;
        io_uring_cqe* c = nullptr;
        if (io_uring_submit_and_wait(&ring, 1) == 1 && io_uring_peek_cqe(&ring, &c) == 0) {
          f.recv_multishot = c->res == 1 && (c->flags & IORING_CQE_F_BUFFER) != 0;
          io_uring_cqe_seen(&ring, c);
        }
      }
    }
  }
  io_uring_queue_exit(&ring);  // cancels the probe's recv
  if (sv[0] >= 0) ::close(sv[0]);
  if (sv[1] >= 0) ::close(sv[1]);
  if (mem != MAP_FAILED) ::munmap(mem, static_cast<std::size_t>(page) * 2);
}

/// Every opcode duet submits (`available`), and MSG_RING, on a plain ring;
/// EXT_ARG from the features it reports. False when no ring can be set up.
bool probe_opcodes(UringFeatures& f) {
  io_uring ring{};
  io_uring_params p{};
  if (io_uring_queue_init_params(8, &ring, &p) != 0) return false;
  io_uring_probe* pr = io_uring_get_probe_ring(&ring);
  if (pr != nullptr) {
    const int needed[] = {IORING_OP_RECV,    IORING_OP_SEND,         IORING_OP_ACCEPT,
                          IORING_OP_CONNECT, IORING_OP_RECVMSG,      IORING_OP_SENDMSG,
                          IORING_OP_READ,    IORING_OP_WRITE,        IORING_OP_FSYNC,
                          IORING_OP_OPENAT,  IORING_OP_ASYNC_CANCEL, IORING_OP_TIMEOUT};
    bool all = true;
    for (int op : needed) all = all && io_uring_opcode_supported(pr, op);
    f.available = all;
    f.msg_ring = io_uring_opcode_supported(pr, IORING_OP_MSG_RING);
    io_uring_free_probe(pr);
  }
  f.ext_arg = (p.features & IORING_FEAT_EXT_ARG) != 0;
  io_uring_queue_exit(&ring);
  return true;
}

/// Setup flags are probed by trying them: the kernel rejects unknown ones.
bool setup_accepted(unsigned flags) {
  io_uring ring{};
  if (io_uring_queue_init(8, &ring, flags) != 0) return false;
  io_uring_queue_exit(&ring);
  return true;
}

UringFeatures probe_uring() {
  UringFeatures f;
  if (!probe_opcodes(f)) return f;  // no io_uring at all
  f.coop_taskrun = setup_accepted(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
  f.defer_taskrun = setup_accepted(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                   IORING_SETUP_R_DISABLED | IORING_SETUP_TASKRUN_FLAG);
  // Multishot accept (5.19): no opcode of its own, so it is assumed with
  // the kernel that has buffer rings, which are probed by registering one.
  if (f.available) probe_buf_ring_and_recv_multishot(f);
  f.multishot_accept = f.buf_ring;
  return f;
}

}  // namespace
}  // namespace detail

const UringFeatures& uring_features() {
  static const UringFeatures f = detail::probe_uring();
  return f;
}

}  // namespace duet::io

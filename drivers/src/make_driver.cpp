// make_driver.cpp: the I/O backends' factory, which the core calls for each
// worker's driver (duet/detail/driver.hpp), and choosing the backend (once
// per process, logged once).
//
// Order: the DUET_DRIVER environment variable (io_uring, epoll, none,
// automatic), then RuntimeConfig::io_driver; `automatic` means io_uring when
// the probe passes (a ring can be set up and every opcode duet submits is
// supported), else epoll. A forced io_uring that the kernel refuses falls
// back to epoll with a log line, never an abort.
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "duet/detail/driver.hpp"
#include "duet/io/stats.hpp"
#include "io/io_internal.hpp"

namespace duet::detail {
namespace {

/// The I/O backends' factory (duet/detail/driver.hpp): null for `none`,
/// which the core serves with its futex driver.
std::unique_ptr<Driver> make_io_driver(const RuntimeConfig& cfg, unsigned index) {
  IoDriver k = io::detail::resolve_driver(cfg.io_driver);
  if (k == IoDriver::io_uring) {
    try {
      return std::make_unique<io::detail::UringDriver>(4096, index, cfg);
    } catch (const std::exception& e) {
      // The probe passed but this ring failed (e.g. memlock limits): epoll
      // for this worker would mix backends, which works (every op binds to
      // its own driver) but is logged.
      std::fprintf(stderr, "duet: io_uring ring for worker %u failed (%s); using epoll\n", index,
                   e.what());
      return std::make_unique<io::detail::EpollDriver>(index);
    }
  }
  if (k == IoDriver::epoll) return std::make_unique<io::detail::EpollDriver>(index);
  return nullptr;
}

}  // namespace
}  // namespace duet::detail

// What the core's weak reference resolves to once this library is linked
// (drivers/CMakeLists.txt names it with --undefined).
extern "C" {
extern const duet::detail::IoDriverFactory duet_io_driver_factory;
const duet::detail::IoDriverFactory duet_io_driver_factory = &duet::detail::make_io_driver;
}

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

UringFeatures probe_uring() {
  UringFeatures f;
  io_uring ring{};
  io_uring_params p{};
  if (io_uring_queue_init_params(8, &ring, &p) != 0) return f;
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
  // Setup flags are probed by trying them: the kernel rejects unknown ones.
  io_uring r2{};
  if (io_uring_queue_init(8, &r2, IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG) == 0) {
    f.coop_taskrun = true;
    io_uring_queue_exit(&r2);
  }
  io_uring r3{};
  if (io_uring_queue_init(8, &r3,
                          IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                              IORING_SETUP_R_DISABLED | IORING_SETUP_TASKRUN_FLAG) == 0) {
    f.defer_taskrun = true;
    io_uring_queue_exit(&r3);
  }
  // Multishot accept (5.19): no opcode of its own, so it is assumed with
  // the kernel that has buffer rings, which are probed by registering one.
  if (f.available) probe_buf_ring_and_recv_multishot(f);
  f.multishot_accept = f.buf_ring;
  return f;
}

std::mutex g_mu;
IoDriver g_active = IoDriver::automatic;
bool g_logged[4] = {};

IoDriver from_env(IoDriver requested) {
  const char* e = std::getenv("DUET_DRIVER");
  if (e == nullptr || *e == 0) return requested;
  if (std::strcmp(e, "io_uring") == 0 || std::strcmp(e, "uring") == 0) return IoDriver::io_uring;
  if (std::strcmp(e, "epoll") == 0) return IoDriver::epoll;
  if (std::strcmp(e, "none") == 0) return IoDriver::none;
  if (std::strcmp(e, "auto") == 0 || std::strcmp(e, "automatic") == 0) return IoDriver::automatic;
  std::fprintf(stderr, "duet: DUET_DRIVER=%s not understood (io_uring|epoll|none|automatic)\n", e);
  return requested;
}

/// DUET_LOG=info (or debug) asks for duet's informational lines on stderr;
/// a library is quiet by default. Warnings (a forced driver the kernel
/// refuses, a ring that failed) are printed either way.
bool log_info() {
  static const bool on = [] {
    const char* e = std::getenv("DUET_LOG");
    return e != nullptr && (std::strcmp(e, "info") == 0 || std::strcmp(e, "debug") == 0);
  }();
  return on;
}

}  // namespace

IoDriver resolve_driver(IoDriver requested) {
  IoDriver want = from_env(requested);
  IoDriver got = want;
  const char* why = "forced";
  bool warn = false;
  if (want == IoDriver::automatic || want == IoDriver::io_uring) {
    if (uring_features().available) {
      got = IoDriver::io_uring;
      why = want == IoDriver::automatic ? "automatic: io_uring probe passed" : "forced";
    } else {
      got = IoDriver::epoll;
      why = want == IoDriver::automatic ? "automatic: io_uring unavailable"
                                        : "io_uring forced but unavailable";
      warn = want == IoDriver::io_uring;
    }
  }
  std::lock_guard lk(g_mu);
  g_active = got;
  auto i = static_cast<unsigned>(got);
  if (!g_logged[i] && (warn || log_info())) {
    g_logged[i] = true;
    std::fprintf(stderr, "duet: I/O driver %s (%s)\n", driver_name(got), why);
  }
  return got;
}

}  // namespace detail

const UringFeatures& uring_features() {
  static const UringFeatures f = detail::probe_uring();
  return f;
}

IoDriver active_driver() noexcept {
  std::lock_guard lk(detail::g_mu);
  return detail::g_active;
}

IoDriver resolve(IoDriver requested) {
  return detail::resolve_driver(requested);
}

const char* driver_name(IoDriver d) noexcept {
  switch (d) {
    case IoDriver::automatic:
      return "automatic";
    case IoDriver::io_uring:
      return "io_uring";
    case IoDriver::epoll:
      return "epoll";
    case IoDriver::none:
      return "none";
  }
  return "?";
}

}  // namespace duet::io

// choice.cpp: which I/O backend this process runs, chosen once and logged
// once; read back by active_driver().
//
// Order: the DUET_DRIVER environment variable (io_uring, epoll, none,
// automatic), then RuntimeConfig::io_driver; `automatic` means io_uring when
// the probe passes (uring/probe.cpp: a ring can be set up and every opcode
// duet submits is supported), else epoll. A forced io_uring that the kernel
// refuses falls back to epoll with a log line, never an abort. So does
// io_uring under Valgrind (under_valgrind below): there it hangs.
#include "choice.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "duet/io/stats.hpp"

namespace duet::io {
namespace detail {
namespace {

std::mutex g_mu;
IoDriver g_active = IoDriver::automatic;
bool g_logged[5] = {};  // one per IoDriver

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

/// Whether this process runs under Valgrind, which preloads its core
/// (vgpreload_core-<arch>.so) into the program it runs. Valgrind 3.19
/// (Debian 12) runs io_uring_enter as a syscall that cannot block, holding
/// the one lock its threads take turns on: a worker that waits there for
/// completions stops every other thread, including the one that would wake
/// it, and the program hangs at its first idle moment (under any tool;
/// `--trace-syscalls=yes` prints io_uring_enter as [sync] and futex as
/// [async]). epoll_wait is one it knows may block.
bool under_valgrind() {
  const char* p = std::getenv("LD_PRELOAD");
  return p != nullptr && std::strstr(p, "vgpreload_core") != nullptr;
}

}  // namespace

IoDriver resolve_driver(IoDriver requested) {
  // A simulated network is the World's, never the environment's to change.
  if (requested == IoDriver::sim) return IoDriver::sim;
  IoDriver want = from_env(requested);
  IoDriver got = want;
  const char* why = "forced";
  bool warn = false;
  if ((want == IoDriver::automatic || want == IoDriver::io_uring) && under_valgrind()) {
    got = IoDriver::epoll;
    why = want == IoDriver::automatic
              ? "automatic: under Valgrind, whose io_uring_enter cannot wait"
              : "io_uring forced, but Valgrind's io_uring_enter cannot wait";
    warn = want == IoDriver::io_uring;
  } else if (want == IoDriver::automatic || want == IoDriver::io_uring) {
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
    std::fprintf(stderr, "duet: I/O driver %s (%s)\n", duet::to_string(got).data(), why);
  }
  return got;
}

}  // namespace detail

IoDriver active_driver() noexcept {
  std::lock_guard lk(detail::g_mu);
  return detail::g_active;
}

IoDriver resolve(IoDriver requested) {
  return detail::resolve_driver(requested);
}

}  // namespace duet::io

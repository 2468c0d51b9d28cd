// io_util.hpp: helpers for the I/O tests: a runtime on a chosen driver, fd
// counting, the open-files limit, and the two-model scenario macros.
#pragma once

#include <dirent.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <duet/time/sleep.hpp>
#include <duet/time/timeout.hpp>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include "test_util.hpp"

namespace duet::iotest {

/// Open descriptors of this process (/proc/self/fd, minus the dir's own).
inline int fd_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.' || std::atoi(e->d_name) == own) continue;
      // A read of the process's own /proc files is not a descriptor a test
      // owns: the stack mapper counts /proc/self/maps on a worker thread
      // while it maps a fiber stack slab (stackful/src/stack_map.cpp), so
      // such a descriptor may be open at any moment.
      char target[64] = {};
      const std::string path = std::string("/proc/self/fd/") + e->d_name;
      const ssize_t len = ::readlink(path.c_str(), target, sizeof target - 1);
      // Gone since the listing (such a /proc read, closed meanwhile): not
      // open now. The sanitizers read /proc/self/maps as each thread starts.
      if (len <= 0 || std::strncmp(target, "/proc/", 6) == 0) continue;
      // The ASan stage's UBSan, on a miss in its vptr type cache, tests
      // that the object is readable by writing it into a pipe(2) that it
      // opens and closes at once, on whichever thread checks: a pipe pair
      // may be open at any moment there. Pipes are counted in the plain
      // and TSan stages.
      if (duet::test::ubsan_vptr && std::strncmp(target, "pipe:", 5) == 0) continue;
      ++n;
    }
    ::closedir(d);
  }
  return n;
}

/// fd_count(), given up to 2 s to come back to `expected`: a descriptor
/// closed a moment late on another thread (the epoll file pool, a driver
/// reaping a cancelled operation) is not a leak; one that stays open is.
inline int settled_fd_count(int expected) {
  int n = fd_count();
  for (int i = 0; i < 200 && n != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    n = fd_count();
  }
  if (n != expected && std::getenv("DUET_TEST_FD_DUMP") != nullptr) {
    std::system(("ls -l /proc/" + std::to_string(::getpid()) + "/fd >&2").c_str());
  }
  return n;
}

/// 1,000 connections on both ends need ~2,100 fds: raise the soft
/// RLIMIT_NOFILE to the hard limit (20000 on this machine type).
inline void raise_nofile() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

using duet::test::note_pending;

/// Times the runtime's workers have parked, summed.
inline std::uint64_t total_parks(Runtime& rt) {
  std::uint64_t n = 0;
  for (const auto& s : rt.stats()) n += s.parks;
  return n;
}

/// Waits until some worker has parked since `before` (total_parks): it ran
/// out of work and went through its driver, which submits what the worker
/// queued (an io_uring cancel is sent on the way to sleep).
inline void wait_for_park(Runtime& rt, std::uint64_t before) {
  while (total_parks(rt) <= before) std::this_thread::yield();
}

/// Waits until the kernel holds none of `fd`'s sent bytes unacknowledged
/// (SIOCOUTQ == 0): on loopback the peer's receive queue has them all.
inline void wait_delivered(int fd) {
  int outq = 1;
  while (::ioctl(fd, SIOCOUTQ, &outq) == 0 && outq > 0) std::this_thread::yield();
}

/// False (and a tagged SKIP warning by the caller) when the kernel cannot
/// run the requested driver.
inline bool driver_available(IoDriver d) {
  if (d == IoDriver::io_uring) return io::uring_features().available;
  return true;
}

/// A runtime on driver `d`; `clock` gives it a test clock (docs/time.md).
inline std::unique_ptr<Runtime> make_rt(IoDriver d, unsigned workers = 2,
                                        ClockMode clock = ClockMode::real) {
  // The tests choose the driver through the config: the environment
  // variable would override it.
  ::unsetenv("DUET_DRIVER");
  RuntimeConfig cfg;
  cfg.workers = workers;
  cfg.placement = Placement::none;
  cfg.io_driver = d;
  cfg.clock = clock;
  return std::make_unique<Runtime>(cfg);
}

enum class Model { stackless, stackful };
inline const char* model_name(Model m) {
  return m == Model::stackless ? "stackless" : "stackful";
}

// The watchdog and the sanitizer flag are shared with the core tests.
using duet::test::sanitized;
using duet::test::Watchdog;

/// Spawns scenario `fn(args...)` as a coroutine or as a fiber (the
/// arguments are copied into the task): the two builds of a scenario file
/// (tests/support/both_models.inc), chosen per run.
template <class C, class F, class... A>
auto spawn_model(duet::Runtime& rt, Model m, C coro_fn, F fib_fn, A... args) {
  if (m == Model::stackless) return rt.spawn(coro_fn(args...));
  return rt.spawn(duet::stackful, [fib_fn, tup = std::make_tuple(args...)]() mutable {
    return std::apply(fib_fn, tup);
  });
}

}  // namespace duet::iotest

/// spawn_model for scenario `fn` of namespaces coro:: and fib::.
#define SPAWN_MODEL(rt, model, fn, ...)                                                  \
  ::duet::iotest::spawn_model((rt), (model), [](auto... a_) { return coro::fn(a_...); }, \
                              [](auto... a_) { return fib::fn(a_...); } __VA_OPT__(, )   \
                                  __VA_ARGS__)

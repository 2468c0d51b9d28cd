// sys_counter.hpp: system calls and page faults of the whole process, for
// benchmarks that promise "no system call per operation".
//
//   duet::lab::SysCounter c;        // after the threads to count exist
//   auto s0 = c.syscalls(); auto f0 = duet::lab::minor_faults();
//   ... work ...
//   double per_op = double(c.syscalls() - s0) / n;
//
// System calls are counted by the kernel (perf_event_open on the
// raw_syscalls:sys_enter tracepoint, one counter per thread that exists when
// the counter is made; threads started later are not seen). Where perf
// events or tracefs are not available (perf_event_paranoid, containers),
// ok() is false and syscalls() returns 0. Page faults come from getrusage
// (every thread, always available): on a VM a first touch of a fresh page
// is the expensive event (docs/performance-log.md, "Why fibers had a cliff").
#pragma once

#include <dirent.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace duet::lab {

inline std::uint64_t minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::uint64_t>(u.ru_minflt);
}

class SysCounter {
 public:
  SysCounter() {
    const long id = tracepoint_id();
    if (id < 0) return;
    DIR* d = opendir("/proc/self/task");
    if (d == nullptr) return;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      perf_event_attr a{};
      a.type = PERF_TYPE_TRACEPOINT;
      a.size = sizeof a;
      a.config = static_cast<std::uint64_t>(id);
      a.exclude_hv = 1;
      const int tid = std::atoi(e->d_name);
      const long fd = syscall(SYS_perf_event_open, &a, tid, -1, -1, 0);
      if (fd >= 0) fds_.push_back(static_cast<int>(fd));
    }
    closedir(d);
  }
  ~SysCounter() {
    for (int fd : fds_) close(fd);
  }
  SysCounter(const SysCounter&) = delete;
  SysCounter& operator=(const SysCounter&) = delete;

  [[nodiscard]] bool ok() const { return !fds_.empty(); }
  /// System calls entered so far by the counted threads.
  [[nodiscard]] std::uint64_t syscalls() const {
    std::uint64_t sum = 0;
    for (int fd : fds_) {
      std::uint64_t v = 0;
      if (read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v)) sum += v;
    }
    return sum;
  }

 private:
  static long tracepoint_id() {
    for (const char* p : {"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
                          "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id"}) {
      if (FILE* f = std::fopen(p, "r")) {
        long id = -1;
        if (std::fscanf(f, "%ld", &id) != 1) id = -1;
        std::fclose(f);
        if (id >= 0) return id;
      }
    }
    return -1;
  }
  std::vector<int> fds_;
};

}  // namespace duet::lab

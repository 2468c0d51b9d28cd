// introspect.cpp: the fiber part of task dumps, the this_fiber queries of
// where a fiber's frames are, and dumps on a signal.
#include "duet/stackful/introspect.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <iostream>
#include <mutex>
#include <ostream>
#include <thread>

#include "copy_stack.hpp"
#include "duet/dump.hpp"
#include "duet/stackful/fiber.hpp"
#include "high_water.hpp"

namespace duet::detail {

/// The fiber's part of a dump line. Reads only what a running fiber does
/// not change under us (set at spawn) or relaxed atomics.
void describe_fiber(const TaskHeader* t, std::ostream& os) {
  const auto* f = static_cast<const FiberBase*>(t);
  os << " strategy=" << duet::to_string(f->strategy);
  // A fiber holds its own stack only between its first run and its finish.
  if (f->strategy != StackStrategy::copy && f->stack) os << " stack=" << f->stack.usable();
  os << " in_use=" << in_use_bytes(f->in_use.load(std::memory_order_relaxed))
     << " high_water=" << f->high_water.load(std::memory_order_relaxed);
  if (void* at = f->parked_at.load(std::memory_order_relaxed)) os << " parked_at=" << at;
  if (f->name != nullptr) os << " name=\"" << f->name << "\"";
  if (f->site_file != nullptr) os << " spawned_at=" << f->site_file << ":" << f->site_line;
}

/// The fiber's spawn site and name (set at spawn, never changed), and its
/// typed body function.
TaskSite fiber_site(const TaskHeader* t) noexcept {
  const auto* f = static_cast<const FiberBase*>(t);
  const auto* vt = static_cast<const FiberVTable*>(t->vtable);
  return TaskSite{f->site_file, f->site_line, f->name, reinterpret_cast<const void*>(vt->body)};
}

}  // namespace duet::detail

namespace duet::this_fiber {

std::size_t stack_in_use() noexcept {
  auto* t = detail::current_task();
  if (t == nullptr || t->vtable->kind != detail::TaskKind::fiber) return 0;
  auto* f = static_cast<detail::FiberBase*>(t);
  char here = 0;
  return static_cast<std::size_t>(f->frames_top() - &here);
}

std::size_t stack_size() noexcept {
  auto* t = detail::current_task();
  if (t == nullptr || t->vtable->kind != detail::TaskKind::fiber) return 0;
  auto* f = static_cast<detail::FiberBase*>(t);
  const detail::Stack& s = f->strategy == StackStrategy::copy ? f->copy.shared->mem : f->stack;
  return static_cast<std::size_t>(f->frames_top() - s.bottom());
}

}  // namespace duet::this_fiber

namespace duet {
namespace {

// The signal handler only writes a byte to a pipe; a helper thread reads it
// and dumps (dump_tasks takes locks and allocates: not signal-safe).
struct SignalDumper {
  std::mutex mu;
  int pipe_rd = -1;
  int pipe_wr = -1;
  int signo = 0;
  struct sigaction previous {};
  std::thread thread;
};
SignalDumper g_dumper;
// The write end as the handler sees it. Relaxed is enough: the handler
// runs on a thread of this process after the store, or sees -1 and drops
// the signal.
std::atomic<int> g_dump_fd{-1};

void on_dump_signal(int) {
  const int saved = errno;
  const int fd = g_dump_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    char c = 'd';
    [[maybe_unused]] ssize_t w = write(fd, &c, 1);
  }
  errno = saved;
}

}  // namespace

void dump_tasks_on_signal(Runtime& rt, int signo) {
  std::lock_guard lk(g_dumper.mu);
  if (g_dumper.thread.joinable()) return;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  g_dumper.pipe_rd = fds[0];
  g_dumper.pipe_wr = fds[1];
  g_dumper.signo = signo;
  g_dump_fd.store(fds[1], std::memory_order_relaxed);
  g_dumper.thread = std::thread([&rt, rd = fds[0]] {
    char c = 0;
    while (read(rd, &c, 1) == 1 && c == 'd') {
      dump_tasks(rt, std::cerr);
      std::cerr.flush();
    }
  });
  struct sigaction sa {};
  sa.sa_handler = &on_dump_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(signo, &sa, &g_dumper.previous);
}

void stop_dump_on_signal() noexcept {
  std::lock_guard lk(g_dumper.mu);
  if (!g_dumper.thread.joinable()) return;
  sigaction(g_dumper.signo, &g_dumper.previous, nullptr);
  g_dump_fd.store(-1, std::memory_order_relaxed);
  char c = 'q';
  [[maybe_unused]] ssize_t w = write(g_dumper.pipe_wr, &c, 1);
  g_dumper.thread.join();
  close(g_dumper.pipe_rd);
  close(g_dumper.pipe_wr);
  g_dumper.pipe_rd = g_dumper.pipe_wr = -1;
}

}  // namespace duet

// fiber_test_util.hpp: helpers of the stackful tests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "duet/duet.hpp"

namespace duet::test {

/// A future that stays pending until open() (wakes every waiter).
class Gate {
 public:
  struct Wait {
    Gate* g;
    Poll<void> poll(Context& cx) {
      std::lock_guard lk(g->mu_);
      if (g->open_) return ready();
      g->wakers_.push_back(cx.waker());
      return pending;
    }
  };
  Wait wait() { return Wait{this}; }
  /// Room for `n` waiters, so that waiting allocates nothing (a test near
  /// a memory limit).
  void reserve(std::size_t n) {
    std::lock_guard lk(mu_);
    wakers_.reserve(n);
  }
  void open() {
    std::vector<Waker> ws;
    {
      std::lock_guard lk(mu_);
      open_ = true;
      ws.swap(wakers_);
    }
    for (auto& w : ws) w.wake_by_ref();
  }
  std::size_t waiters() {
    std::lock_guard lk(mu_);
    return wakers_.size();
  }

 private:
  std::mutex mu_;
  bool open_ = false;
  std::vector<Waker> wakers_;
};

/// What a child process did: exit status (or signal) and its stderr.
struct ChildResult {
  bool exited = false;
  int exit_code = -1;
  bool signaled = false;
  int signal = 0;
  std::string err;
};

/// Runs `body` in a forked child with stderr captured. The child exits 0
/// when body returns.
inline ChildResult run_in_child(const std::function<void()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    // The child reports through its exit status and stderr only: Catch's
    // own fatal-signal report (on stdout) would read as the parent's.
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
    ::signal(SIGABRT, SIG_DFL);
    body();
    _exit(0);
  }
  close(fds[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.err.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  r.exited = WIFEXITED(st);
  r.exit_code = r.exited ? WEXITSTATUS(st) : -1;
  r.signaled = WIFSIGNALED(st);
  r.signal = r.signaled ? WTERMSIG(st) : 0;
  return r;
}

/// The strategy's name, for INFO lines.
inline const char* strategy_name(duet::StackStrategy s) noexcept {
  return duet::to_string(s).data();  // a literal: null-terminated
}

/// Puts the process-wide stack tuning back as it was when made (RAII): a
/// test that tunes the pools leaves the next test the defaults.
struct StackTuningRestore {
  const duet::StackTuning saved = duet::stack_tuning();
  StackTuningRestore() = default;
  StackTuningRestore(const StackTuningRestore&) = delete;
  StackTuningRestore& operator=(const StackTuningRestore&) = delete;
  ~StackTuningRestore() { duet::set_stack_tuning(saved); }
};

inline constexpr StackStrategy all_strategies[] = {StackStrategy::pooled, StackStrategy::lazy,
                                                   StackStrategy::copy,
                                                   StackStrategy::unguarded_unsafe};

/// A coroutine that answers each value it receives on `in` with value + 1
/// on `out`, until `in` closes (then it closes `out`); returns how many it
/// answered. The coroutine side of the fiber ping-pongs.
inline duet::Task<int> coro_relay(duet::Channel<int> in, duet::Channel<int> out) {
  int n = 0;
  while (auto v = co_await in.recv()) {
    ++n;
    if (!co_await out.send(*v + 1)) break;
  }
  out.close();
  co_return n;
}

/// On a fiber: sends 0..rounds-1 on `ping`, checks that each answer on
/// `pong` is the value + 1 (coro_relay's, or a fiber's), then closes
/// `ping`; returns how many answers were right.
inline int fiber_ping(duet::Channel<int>& ping, duet::Channel<int>& pong, int rounds) {
  int good = 0;
  for (int i = 0; i < rounds; ++i) {
    if (!duet::wait(ping.send(i))) break;
    if (duet::wait(pong.recv()) == i + 1) ++good;
  }
  ping.close();
  return good;
}

}  // namespace duet::test

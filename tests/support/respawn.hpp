// respawn.hpp: a test that must watch a process end (an abort, an exit
// with a job stuck in a system call) runs this test binary again on one of
// its hidden cases ([.]: never run by a plain run, nor declared to the
// ledger), with the ledger's variable left out, and reads the child's
// stderr and how it ended, killing it past a bound so that a hang is a
// failure.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace duet::test {

struct ChildEnd {
  bool exited = false, signaled = false;
  int code = -1, signal = 0;
  std::string err;
};

/// Runs this binary on the hidden case with stderr captured; killed after
/// `limit_ms` (then neither exited nor signaled by itself).
inline ChildEnd run_child(const char* hidden_case, int limit_ms) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "DUET_TEST_LEDGER=", 17) != 0) env.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string name = hidden_case;
  char* argv[] = {exe.data(), name.data(), nullptr};
  int fds[2];
  ChildEnd end;
  if (::pipe2(fds, O_CLOEXEC) != 0) return end;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return end;
  }
  char buf[4096];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, limit_ms) <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    end.err.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  end.exited = WIFEXITED(status);
  end.code = end.exited ? WEXITSTATUS(status) : -1;
  end.signaled = WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL;
  end.signal = end.signaled ? WTERMSIG(status) : 0;
  return end;
}

}  // namespace duet::test

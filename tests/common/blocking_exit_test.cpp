// The blocking pool at process exit (duet/blocking.hpp): a job blocked in a
// system call does not hold the exit, and a job still queued does not start.
// The exiting process is this test binary itself, started again on a
// hidden case ([.]: never run by a plain run, nor declared to the ledger),
// which exits from inside the case; the parent waits for it through a
// pidfd, with a bound that turns a hang into a failure.
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

extern char** environ;

namespace {

constexpr const char* kChildCase =
    "blocking pool child: exit with one job stuck in read and one queued";
constexpr int kChildExit = 42;

/// Runs this binary on the hidden case; its exit status, or -1 if it did
/// not end within `limit_ms` (it is killed then).
int run_child(int limit_ms) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "DUET_TEST_LEDGER=", 17) != 0) env.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string name = kChildCase;
  char* argv[] = {exe.data(), name.data(), nullptr};
  pid_t pid = -1;
  if (::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, envp.data()) != 0) return -2;
  const int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  int status = 0;
  if (pfd >= 0) {
    pollfd p{pfd, POLLIN, 0};
    const int r = ::poll(&p, 1, limit_ms);
    ::close(pfd);
    if (r == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
  }
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -3;
}

}  // namespace

TEST_CASE("blocking pool: a job stuck in read(2) does not hold the process's exit",
          "[blocking][exit]") {
  duet::test::Watchdog wd("blocking pool exit");
  // Far longer than an exit takes; a pool that waits for its jobs never
  // ends, and the case fails here instead of hanging.
  const int rc = run_child(30000);
  INFO("the child's exit status (-1: still running after 30 s, killed)");
  CHECK(rc == kChildExit);
}

TEST_CASE("blocking pool child: exit with one job stuck in read and one queued", "[.][blocking]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);  // the write end stays open: the read never ends
  duet::configure_blocking_pool(1, std::chrono::seconds(10));
  std::atomic<bool> started{false};
  auto stuck = duet::spawn_blocking([&] {
    started = true;
    char c;
    return ::read(fds[0], &c, 1);
  });
  // One thread, busy: this one waits in the queue.
  auto queued = duet::spawn_blocking([] { return 1; });
  while (!started.load()) std::this_thread::yield();
  stuck.detach();
  queued.detach();
  std::exit(kChildExit);  // static destructors run; the pool must not wait
}

// fork() in a program with a live runtime (duet/detail/fork.hpp): the child
// may destroy the runtime it inherited and exit (neither hangs on threads
// that were not copied, nor on locks they held); constructing a runtime,
// waiting on one or draining one aborts with a message naming the use.
// Each case forks this process after the runtime has run tasks (workers,
// the blocking pool and the fallback timer's loop started); the parent reads the
// child's stderr and waits for it through a pidfd, with a bound that turns
// a hang into a failure.
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

// Set in the child only: its exit runs no leak check (it inherits every
// block of the parent's runtime, deliberately left in place).
bool g_forked_test_child = false;

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
extern "C" int __lsan_is_turned_off() {
  return g_forked_test_child ? 1 : 0;
}
#endif

namespace {

struct ChildEnd {
  bool finished = false;  // false: still running at the bound, killed
  int status = 0;
  std::string err;
};

/// Forks; the child runs `body` with its stderr on a pipe, then exits 0.
/// Waits at most 30 s.
ChildEnd in_child(const std::function<void()>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    g_forked_test_child = true;
    // The abort is the child's answer, not a failure of this case: the
    // test runner's handler (which reports to the shared stdout) is off.
    std::signal(SIGABRT, SIG_DFL);
    ::dup2(fds[1], STDERR_FILENO);
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, STDOUT_FILENO);
    ::close(fds[0]);
    body();
    std::exit(0);  // static destructors and thread-local ones run
  }
  ::close(fds[1]);
  ChildEnd end;
  const int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  REQUIRE(pfd >= 0);
  pollfd p{pfd, POLLIN, 0};
  end.finished = ::poll(&p, 1, 30'000) == 1;
  ::close(pfd);
  if (!end.finished) ::kill(pid, SIGKILL);
  ::waitpid(pid, &end.status, 0);
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    end.err.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  return end;
}

duet::Task<int> answer() {
  co_await duet::sleep(std::chrono::milliseconds(1));
  co_return 42;
}

/// A runtime whose threads (workers, the blocking pool's, the timer's)
/// have all started.
std::unique_ptr<duet::Runtime> busy_runtime() {
  auto rt = std::make_unique<duet::Runtime>(duet::test::unpinned_config(2));
  REQUIRE(rt->block_on(answer()) == 42);
  REQUIRE(rt->block_on(duet::stackful,
                       [] { return duet::spawn_blocking([] { return 7; }).join(); }) == 7);
  duet::wait(duet::sleep(std::chrono::milliseconds(1)));  // the fallback timer's loop
  return rt;
}

bool aborted_saying(const ChildEnd& end, const char* use) {
  return end.finished && WIFSIGNALED(end.status) && WTERMSIG(end.status) == SIGABRT &&
         end.err.find(use) != std::string::npos &&
         end.err.find("child of a fork()") != std::string::npos;
}

}  // namespace

TEST_CASE("A forked child destroys the runtime it inherited and exits") {
  auto rt = busy_runtime();
  const ChildEnd end = in_child([&] { rt.reset(); });
  INFO(end.err);
  REQUIRE(end.finished);
  CHECK(WIFEXITED(end.status));
  CHECK(WEXITSTATUS(end.status) == 0);
  // The parent's runtime is untouched.
  CHECK(rt->block_on(answer()) == 42);
}

TEST_CASE("A forked child that spawns or waits aborts naming the use") {
  auto rt = busy_runtime();
  const ChildEnd end = in_child([&] { (void)rt->block_on(answer()); });
  INFO(end.err);
  CHECK(aborted_saying(end, "a spawn from a plain thread"));
  const ChildEnd joined =
      in_child([&] { (void)duet::wait(duet::sleep(std::chrono::milliseconds(1))); });
  INFO(joined.err);
  CHECK(aborted_saying(joined, "a timer outside a runtime"));
}

TEST_CASE("A forked child that constructs a runtime or drains one aborts naming it") {
  auto rt = busy_runtime();
  const ChildEnd made = in_child([] { duet::Runtime again(duet::test::unpinned_config(1)); });
  INFO(made.err);
  CHECK(aborted_saying(made, "constructing a duet::Runtime"));
  const ChildEnd drained = in_child([&] { (void)rt->drain(std::chrono::seconds(1)); });
  INFO(drained.err);
  CHECK(aborted_saying(drained, "Runtime::drain"));
}

// Moving a future while it waits (its waiter node linked into a primitive)
// would leave a dangling pointer in the primitive's list: duet aborts, and
// says what happened and what to do. Checked in a forked child, for a
// channel receive, a mutex lock and a sleep.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <string>
#include <utility>

#include "sync_util.hpp"

using namespace duet;
using namespace duet::synctest;

namespace {

/// Runs `body` in a child whose stderr comes back; the child must die of
/// SIGABRT. Returns its stderr.
template <class F>
std::string aborts_with(F body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::dup2(fds[1], STDERR_FILENO);
    std::signal(SIGABRT, SIG_DFL);
    body();
    ::_exit(0);  // no abort: the parent reports it
  }
  ::close(fds[1]);
  std::string err;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  CHECK(WIFSIGNALED(st));
  if (WIFSIGNALED(st)) CHECK(WTERMSIG(st) == SIGABRT);
  return err;
}

template <class Make>
void move_while_waiting(Make make) {
  CountingWaker cw;
  auto f = make();
  if (poll_once(f, cw).is_pending()) {
    auto moved = std::move(f);  // aborts here
    (void)moved;
  }
}

}  // namespace

TEST_CASE("moving a waiting future aborts with a message that says why", "[sync][death]") {
  const std::string want = "a future was moved while it was waiting";
  auto ch = Channel<int>::bounded(0);
  CHECK(aborts_with([&] { move_while_waiting([&] { return ch.recv(); }); }).find(want) !=
        std::string::npos);
  Mutex m;
  auto held = m.try_lock();
  REQUIRE(held);
  CHECK(aborts_with([&] { move_while_waiting([&] { return m.lock(); }); }).find(want) !=
        std::string::npos);
  // Off any runtime a sleep registers on the fallback timer wheel.
  CHECK(aborts_with([] {
          move_while_waiting([] { return duet::sleep(std::chrono::hours(1)); });
        }).find(want) != std::string::npos);
}

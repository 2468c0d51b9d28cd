// The blocking pool at process exit (duet/blocking.hpp): a job blocked in a
// system call does not hold the exit, and a job still queued does not start.
// The exiting process is this test binary itself, started again on a
// hidden case ([.]: never run by a plain run, nor declared to the ledger),
// which exits from inside the case; the parent waits for it
// (tests/support/respawn.hpp), with a bound that turns a hang into a
// failure.
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

#include "respawn.hpp"
#include "test_util.hpp"

namespace {

constexpr const char* kChildCase =
    "blocking pool child: exit with one job stuck in read and one queued";
constexpr int kChildExit = 42;

}  // namespace

TEST_CASE("blocking pool: a job stuck in read(2) does not hold the process's exit",
          "[blocking][exit]") {
  duet::test::Watchdog wd("blocking pool exit");
  // Far longer than an exit takes; a pool that waits for its jobs never
  // ends, and the case fails here instead of hanging.
  const duet::test::ChildEnd end = duet::test::run_child(kChildCase, 30000);
  INFO("the child: exited " << end.exited << " with " << end.code
                            << " (not exited: still running after 30 s, "
                               "killed, or a signal)\n"
                            << end.err);
  CHECK(end.exited);
  CHECK(end.code == kChildExit);
}

TEST_CASE("blocking pool child: exit with one job stuck in read and one queued", "[.][blocking]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);  // the write end stays open: the read never ends
  duet::configure_blocking_pool({.max_threads = 1, .keep_alive = std::chrono::seconds(10)});
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

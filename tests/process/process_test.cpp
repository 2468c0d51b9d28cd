// process_test.cpp: child processes (duet/process/child.hpp) on both
// drivers x both models: output and exit code, stdin round trip,
// environment and working directory, a cancelled wait, kill; the drop of a
// running child; the error paths. Each case checks the fd count and that no
// child is left unreaped (waitpid(-1) finds none).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <span>
#include <string>

#include "../async_fd/model_matrix.hpp"

using namespace std::chrono_literals;

#define DUET_SCENARIOS "../process/process_scenarios.inc"
#include "both_models.inc"

namespace {

/// No child of this process is left, running or a zombie.
bool no_children() {
  return ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD;
}

struct NoZombie {
  ~NoZombie() { CHECK(no_children()); }
};

}  // namespace

#define PROCESS_CASE(name, fn)                       \
  TEST_CASE("process: " name, "[process]") {         \
    NoZombie nz;                                     \
    IO_MATRIX();                                     \
    duet::iotest::Watchdog wd(name);                 \
    auto rt = duet::iotest::make_rt(drv);            \
    CHECK(SPAWN_MODEL(*rt, model, fn).join() == ""); \
  }

PROCESS_CASE("a child's stdout, stderr and exit code", output_and_exit_code)
PROCESS_CASE("cat echoes stdin to stdout until stdin closes", cat_round_trip)
PROCESS_CASE("environment and working directory", env_and_dir)
PROCESS_CASE("a cancelled wait leaves the child running", cancelled_wait)
PROCESS_CASE("kill, then the status says SIGKILL", killed)
PROCESS_CASE("a write to an exited child is EPIPE", write_to_exited)

TEST_CASE("process: dropping a running child kills and reaps it", "[process]") {
  NoZombie nz;
  const int before = duet::iotest::fd_count();
  pid_t pid = -1;
  {
    auto c = duet::process::Command("cat").stdin(duet::process::Stdio::piped).spawn();
    REQUIRE(c);
    pid = c->id();
    REQUIRE(::kill(pid, 0) == 0);  // running
  }
  siginfo_t si{};
  CHECK(::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG) < 0);
  CHECK(errno == ECHILD);  // reaped, not a zombie
  CHECK(duet::iotest::fd_count() == before);
}

TEST_CASE("process: spawn errors carry the OS reason and leak nothing", "[process][error]") {
  NoZombie nz;
  const int before = duet::iotest::fd_count();
  using duet::process::Stdio;
  auto a = duet::process::Command("/nonexistent/duet-no-such-program")
               .stdin(Stdio::piped)
               .stdout(Stdio::piped)
               .stderr(Stdio::piped)
               .spawn();
  REQUIRE_FALSE(a);
  CHECK(a.error() == std::errc::no_such_file_or_directory);
  auto b = duet::process::Command("/bin/true").current_dir("/nonexistent-dir").spawn();
  REQUIRE_FALSE(b);
  CHECK(b.error() == std::errc::no_such_file_or_directory);
  auto c = duet::process::Command("/etc/passwd").spawn();  // not executable
  REQUIRE_FALSE(c);
  CHECK(c.error() == std::errc::permission_denied);
  CHECK(duet::iotest::fd_count() == before);
}

TEST_CASE("process: a plain thread spawns, reads and waits", "[process]") {
  NoZombie nz;
  auto c =
      duet::process::Command("/bin/echo").arg("plain").stdout(duet::process::Stdio::piped).spawn();
  REQUIRE(c);
  std::byte buf[64];
  auto n = duet::wait(c->stdout_pipe->read(buf));
  REQUIRE(n);
  CHECK(std::string(reinterpret_cast<const char*>(buf), *n) == "plain\n");
  auto st = duet::wait(c->wait());
  REQUIRE(st);
  CHECK(st->success());
}

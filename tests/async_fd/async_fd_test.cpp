// async_fd_test.cpp: AsyncFd (duet/io/async_fd.hpp) on a pipe and an
// eventfd, on both drivers x both models, with the fd count checked before
// and after each case; its error paths; and the plain-thread fallback.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "model_matrix.hpp"

using namespace std::chrono_literals;

#define DUET_SCENARIOS "../async_fd/async_fd_scenarios.inc"
#include "both_models.inc"

namespace {

/// A non-blocking pipe, closed at scope exit (either end may close early).
struct Pipe {
  std::array<int, 2> fd{-1, -1};
  Pipe() { REQUIRE(::pipe2(fd.data(), O_NONBLOCK | O_CLOEXEC) == 0); }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (fd[0] >= 0) ::close(std::exchange(fd[0], -1));
  }
  void close_write() {
    if (fd[1] >= 0) ::close(std::exchange(fd[1], -1));
  }
};

void wait_for(const std::atomic<int>& v, int at_least) {
  while (v.load() < at_least) std::this_thread::yield();
}

}  // namespace

TEST_CASE("async_fd: readable on a pipe, then hang-up when the write end closes", "[async_fd]") {
  IO_MATRIX();
  duet::iotest::Watchdog wd("async_fd pipe");
  auto rt = duet::iotest::make_rt(drv);
  Pipe p;
  std::atomic<int> parked{0};
  auto h = SPAWN_MODEL(*rt, model, pipe_readable, p.fd[0], &parked);
  wait_for(parked, 1);
  REQUIRE(::write(p.fd[1], "hello", 5) == 5);
  wait_for(parked, 2);
  p.close_write();
  CHECK(h.join() == "");
}

TEST_CASE("async_fd: an eventfd added to from another thread", "[async_fd]") {
  IO_MATRIX();
  duet::iotest::Watchdog wd("async_fd eventfd");
  auto rt = duet::iotest::make_rt(drv);
  duet::io::Fd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  REQUIRE(efd);
  std::atomic<int> parked{0};
  constexpr std::uint64_t total = 1000;
  auto h = SPAWN_MODEL(*rt, model, eventfd_sum, efd.get(), total, &parked);
  wait_for(parked, 1);
  for (std::uint64_t i = 0; i < total; ++i) {
    std::uint64_t one = 1;
    REQUIRE(::write(efd.get(), &one, sizeof one) == sizeof one);
  }
  CHECK(h.join() == "");
}

TEST_CASE("async_fd: writable on a full pipe once the reader drains it", "[async_fd]") {
  IO_MATRIX();
  duet::iotest::Watchdog wd("async_fd writable");
  auto rt = duet::iotest::make_rt(drv);
  Pipe p;
  std::atomic<int> parked{0};
  auto h = SPAWN_MODEL(*rt, model, pipe_writable, p.fd[1], &parked);
  wait_for(parked, 1);
  char buf[65536];
  while (::read(p.fd[0], buf, sizeof buf) > 0) {
  }
  CHECK(h.join() == "");
}

TEST_CASE("async_fd: a cancelled wait leaves the AsyncFd usable", "[async_fd][cancel]") {
  IO_MATRIX();
  duet::iotest::Watchdog wd("async_fd cancel");
  auto rt = duet::iotest::make_rt(drv);
  Pipe p;
  auto h = SPAWN_MODEL(*rt, model, cancelled_wait, p.fd[0], p.fd[1]);
  CHECK(h.join() == "");
}

TEST_CASE("async_fd: several tasks waiting on one fd all wake", "[async_fd]") {
  IO_MATRIX();
  duet::iotest::Watchdog wd("async_fd shared");
  auto rt = duet::iotest::make_rt(drv);
  Pipe p;
  auto a = duet::io::AsyncFd::borrow(p.fd[0]);
  REQUIRE(a);
  std::atomic<int> parked{0};
  std::vector<duet::JoinHandle<std::string>> hs;
  for (int i = 0; i < 4; ++i) hs.push_back(SPAWN_MODEL(*rt, model, shared_wait, &*a, &parked));
  wait_for(parked, 4);
  REQUIRE(::write(p.fd[1], "x", 1) == 1);
  for (auto& h : hs) CHECK(h.join() == "");
}

TEST_CASE("async_fd: adopt closes the fd, borrow leaves it open", "[async_fd]") {
  const int before = duet::iotest::fd_count();
  {
    auto a = duet::io::AsyncFd::adopt(duet::io::Fd(::eventfd(0, EFD_CLOEXEC)));
    REQUIRE(a);
    CHECK(a->owns());
    CHECK(duet::iotest::fd_count() == before + 1);
  }
  CHECK(duet::iotest::fd_count() == before);
  const int e = ::eventfd(0, EFD_CLOEXEC);
  REQUIRE(e >= 0);
  {
    auto b = duet::io::AsyncFd::borrow(e);
    REQUIRE(b);
    CHECK_FALSE(b->owns());
  }
  CHECK(::fcntl(e, F_GETFD) >= 0);  // still open
  ::close(e);
  CHECK(duet::iotest::fd_count() == before);
}

TEST_CASE("async_fd: a descriptor that is not open is EBADF", "[async_fd][error]") {
  const int before = duet::iotest::fd_count();
  auto a = duet::io::AsyncFd::borrow(-1);
  REQUIRE_FALSE(a);
  CHECK(a.error() == std::errc::bad_file_descriptor);
  const int e = ::eventfd(0, EFD_CLOEXEC);
  ::close(e);
  auto b = duet::io::AsyncFd::borrow(e);
  REQUIRE_FALSE(b);
  CHECK(b.error() == std::errc::bad_file_descriptor);
  auto c = duet::io::AsyncFd::adopt(duet::io::Fd{});
  CHECK(c.error() == std::errc::bad_file_descriptor);
  CHECK(duet::iotest::fd_count() == before);
}

TEST_CASE("async_fd: a plain thread blocks in poll(2) until readable", "[async_fd]") {
  Pipe p;
  auto a = duet::io::AsyncFd::borrow(p.fd[0]);
  REQUIRE(a);
  std::thread writer([&] { REQUIRE(::write(p.fd[1], "y", 1) == 1); });
  auto r = duet::wait(a->readable());
  writer.join();
  REQUIRE(r);
  CHECK(r->readable());
}

TEST_CASE("async_fd: a wait on a closed fd is EBADF", "[async_fd][error]") {
  IO_MATRIX();
  duet::iotest::Watchdog wd("async_fd closed");
  auto rt = duet::iotest::make_rt(drv);
  auto h = SPAWN_MODEL(*rt, model, closed_fd_wait);
  CHECK(h.join() == "");
}

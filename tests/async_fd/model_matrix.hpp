// model_matrix.hpp: runs a scenario on both I/O drivers and from both
// models, with the fd count checked before and after (the pattern of
// tests/drivers/io_test.cpp, for the areas that test readiness, signals and
// child processes). A scenario is written once in a .inc file and compiled
// twice: namespace coro (Task<T>, co_await) and namespace fib (plain
// functions, duet::wait).
#pragma once

#include "../drivers/io_util.hpp"

namespace duet::iotest {

/// Checks at scope exit that the process has as many fds as `before`.
struct FdCheck {
  int before;
  ~FdCheck() { CHECK(settled_fd_count(before) == before); }
};

}  // namespace duet::iotest

/// The driver x model matrix; `drv` and `model` name the current pair.
#define IO_MATRIX()                                                                          \
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);      \
  const duet::iotest::Model model =                                                          \
      GENERATE(duet::iotest::Model::stackless, duet::iotest::Model::stackful);               \
  INFO("driver " << duet::to_string(drv).data() << ", " << duet::iotest::model_name(model)); \
  if (!duet::iotest::driver_available(drv)) {                                                \
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");        \
    return;                                                                                  \
  }                                                                                          \
  duet::iotest::FdCheck fd_check_ {                                                          \
    duet::iotest::fd_count()                                                                 \
  }

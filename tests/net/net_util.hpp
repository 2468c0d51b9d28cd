// net_util.hpp: what the socket tests of this area share with the driver
// tests (tests/drivers/io_util.hpp): the driver x model matrix with its fd
// check (SPAWN_MODEL, in io_util.hpp, spawns one scenario in either model).
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <system_error>
#include <tuple>

#include "../drivers/io_util.hpp"

namespace duet::nettest {

inline std::string err(const char* what, std::error_code e) {
  return std::string(what) + ": " + e.message();
}
inline std::byte pattern(std::size_t i) {
  return static_cast<std::byte>((i * 7 + 3) % 251);
}

/// Counts this process's descriptors when made and checks, when destroyed,
/// that they came back to that count (settled_fd_count).
struct FdCheck {
  int before = iotest::fd_count();
  ~FdCheck() { CHECK(iotest::settled_fd_count(before) == before); }
};

}  // namespace duet::nettest

/// Runs the test case's body on io_uring and epoll, from coroutines and
/// fibers (Catch2 GENERATE), with the fd count checked around it.
#define NET_MATRIX()                                                                         \
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);      \
  const duet::iotest::Model model =                                                          \
      GENERATE(duet::iotest::Model::stackless, duet::iotest::Model::stackful);               \
  INFO("driver " << duet::to_string(drv).data() << ", " << duet::iotest::model_name(model)); \
  if (!duet::iotest::driver_available(drv)) {                                                \
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");        \
    return;                                                                                  \
  }                                                                                          \
  duet::iotest::raise_nofile();                                                              \
  duet::nettest::FdCheck fd_check_

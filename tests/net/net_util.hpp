// net_util.hpp: what the socket tests of this area share with the driver
// tests (tests/drivers/io_util.hpp): the driver x model matrix with its fd
// check, and spawning one scenario as a coroutine or as a fiber.
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

/// Spawns scenario `fn(args...)` as a coroutine or as a fiber (the
/// arguments are copied into the task).
template <class C, class F, class... A>
auto spawn_model(Runtime& rt, iotest::Model m, C coro_fn, F fib_fn, A... args) {
  if (m == iotest::Model::stackless) return rt.spawn(coro_fn(args...));
  return rt.spawn(duet::stackful, [fib_fn, tup = std::make_tuple(args...)]() mutable {
    return std::apply(fib_fn, tup);
  });
}

/// Counts this process's descriptors when made and checks, when destroyed,
/// that they came back to that count (settled_fd_count).
struct FdCheck {
  int before = iotest::fd_count();
  ~FdCheck() { CHECK(iotest::settled_fd_count(before) == before); }
};

}  // namespace duet::nettest

#define NET_SPAWN(rt, model, fn, ...)                                                   \
  duet::nettest::spawn_model((rt), (model), [](auto... a_) { return coro::fn(a_...); }, \
                             [](auto... a_) { return fib::fn(a_...); } __VA_OPT__(, ) __VA_ARGS__)

/// Runs the test case's body on io_uring and epoll, from coroutines and
/// fibers (Catch2 GENERATE), with the fd count checked around it.
#define NET_MATRIX()                                                                        \
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);     \
  const duet::iotest::Model model =                                                         \
      GENERATE(duet::iotest::Model::stackless, duet::iotest::Model::stackful);              \
  INFO("driver " << duet::io::driver_name(drv) << ", " << duet::iotest::model_name(model)); \
  if (!duet::iotest::driver_available(drv)) {                                               \
    WARN("SKIP: " << duet::io::driver_name(drv) << " not available on this kernel");        \
    return;                                                                                 \
  }                                                                                         \
  duet::iotest::raise_nofile();                                                             \
  duet::nettest::FdCheck fd_check_

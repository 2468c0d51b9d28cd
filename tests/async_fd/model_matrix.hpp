// model_matrix.hpp: runs a scenario on both I/O drivers and from both
// models, with the fd count checked before and after (the pattern of
// tests/drivers/io_test.cpp, for the areas that test readiness, signals and
// child processes). A scenario is written once in a .inc file and compiled
// twice: namespace coro (Task<T>, co_await) and namespace fib (plain
// functions, duet::wait).
#pragma once

#include <tuple>

#include "../drivers/io_util.hpp"

namespace duet::iotest {

/// Spawns scenario `fn(args...)` as a coroutine or as a fiber.
template <class C, class F, class... A>
auto spawn_model(Runtime& rt, Model m, C coro_fn, F fib_fn, A... args) {
  if (m == Model::stackless) return rt.spawn(coro_fn(args...));
  return rt.spawn(duet::stackful, [fib_fn, tup = std::make_tuple(args...)]() mutable {
    return std::apply(fib_fn, tup);
  });
}

/// Checks at scope exit that the process has as many fds as `before`.
struct FdCheck {
  int before;
  ~FdCheck() { CHECK(settled_fd_count(before) == before); }
};

}  // namespace duet::iotest

#define SPAWN_MODEL(rt, model, fn, ...)                                                  \
  ::duet::iotest::spawn_model((rt), (model), [](auto... a_) { return coro::fn(a_...); }, \
                              [](auto... a_) { return fib::fn(a_...); } __VA_OPT__(, )   \
                                  __VA_ARGS__)

/// The driver x model matrix; `drv` and `model` name the current pair.
#define IO_MATRIX()                                                                         \
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);     \
  const duet::iotest::Model model =                                                         \
      GENERATE(duet::iotest::Model::stackless, duet::iotest::Model::stackful);              \
  INFO("driver " << duet::io::driver_name(drv) << ", " << duet::iotest::model_name(model)); \
  if (!duet::iotest::driver_available(drv)) {                                               \
    WARN("SKIP: " << duet::io::driver_name(drv) << " not available on this kernel");        \
    return;                                                                                 \
  }                                                                                         \
  duet::iotest::FdCheck fd_check_ {                                                         \
    duet::iotest::fd_count()                                                                \
  }

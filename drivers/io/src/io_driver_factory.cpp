// io_driver_factory.cpp: the I/O backends' factory, which the core calls for each
// worker's driver (duet/detail/driver.hpp): the backend that choice.cpp
// resolves, one UringDriver or EpollDriver per worker, the installed
// simulated network's driver for IoDriver::sim (duet/io/detail/virtual_net.hpp), or none
// (the core's futex driver) for IoDriver::none. Every driver it makes is an
// IoBackend (duet/io/detail/backend.hpp), which current_backend() relies on.
#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>

#include "choice.hpp"
#include "duet/detail/driver.hpp"
#include "duet/io/detail/virtual_net.hpp"
#include "epoll/epoll_driver.hpp"
#include "uring/uring_driver.hpp"

namespace duet::detail {
namespace {

/// The I/O backends' factory (duet/detail/driver.hpp): null for `none`,
/// which the core serves with its futex driver.
std::unique_ptr<Driver> make_io_driver(const RuntimeConfig& cfg, unsigned index) {
  if (cfg.io_driver == IoDriver::sim) {
    io::detail::VirtualNet* v = io::detail::virtual_net();
    if (v == nullptr) {
      throw std::invalid_argument(
          "duet: IoDriver::sim is made by a duet::sim::World, which builds its own runtime");
    }
    return v->make_driver(cfg, index);
  }
  IoDriver k = io::detail::resolve_driver(cfg.io_driver);
  if (k == IoDriver::io_uring) {
    try {
      return std::make_unique<io::detail::UringDriver>(4096, index, cfg);
    } catch (const std::exception& e) {
      // The probe passed but this ring failed (e.g. memlock limits): epoll
      // for this worker would mix backends, which works (every op binds to
      // its own driver) but is logged.
      std::fprintf(stderr, "duet: io_uring ring for worker %u failed (%s); using epoll\n", index,
                   e.what());
      return std::make_unique<io::detail::EpollDriver>(index);
    }
  }
  if (k == IoDriver::epoll) return std::make_unique<io::detail::EpollDriver>(index);
  return nullptr;
}

}  // namespace
}  // namespace duet::detail

// What the core's weak reference resolves to once this library is linked
// (drivers/CMakeLists.txt names it with --undefined).
extern "C" {
DUET_API extern const duet::detail::IoDriverFactory duet_io_driver_factory;
const duet::detail::IoDriverFactory duet_io_driver_factory = &duet::detail::make_io_driver;
}

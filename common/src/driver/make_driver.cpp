// make_driver.cpp: a worker's driver, from the I/O backends when they are
// linked (duet::drivers), else the futex driver.
//
// The backends plug in through one weak symbol (duet/detail/driver.hpp): no
// registration at static-initialization time, so a Runtime built by another
// static initializer sees them too, and no reference from the core to the
// backends, so a program without I/O links without them and without liburing.
#include <stdexcept>
#include <string>

#include "duet/detail/driver.hpp"

// Weak and undefined here: null unless duet::drivers is linked.
extern "C" {
[[gnu::weak]] DUET_API extern const duet::detail::IoDriverFactory duet_io_driver_factory;
}

namespace duet::detail {

bool io_drivers_linked() noexcept {
  return &duet_io_driver_factory != nullptr;
}

std::unique_ptr<Driver> make_driver(const RuntimeConfig& cfg, unsigned index) {
  if (io_drivers_linked()) {
    if (auto d = duet_io_driver_factory(cfg, index)) return d;
    return make_futex_driver();
  }
  if (cfg.io_driver == IoDriver::io_uring || cfg.io_driver == IoDriver::epoll ||
      cfg.io_driver == IoDriver::sim) {
    const char* name = cfg.io_driver == IoDriver::io_uring ? "io_uring"
                       : cfg.io_driver == IoDriver::epoll  ? "epoll"
                                                           : "sim";
    throw std::invalid_argument(std::string("duet: RuntimeConfig::io_driver asks for ") + name +
                                ", but this program does not link duet::drivers (the I/O "
                                "backends); link duet::duet or duet::drivers, or ask for "
                                "IoDriver::none or automatic");
  }
  return make_futex_driver();
}

}  // namespace duet::detail

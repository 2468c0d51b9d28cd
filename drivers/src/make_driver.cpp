// make_driver.cpp: choosing the backend.
#include <memory>

#include "duet/drivers/driver.hpp"

namespace duet::detail {

std::unique_ptr<Driver> make_futex_driver();

namespace {
thread_local Driver* tl_driver = nullptr;
}
Driver* current_driver() noexcept { return tl_driver; }
void set_current_driver(Driver* d) noexcept { tl_driver = d; }

std::unique_ptr<Driver> make_driver(IoDriver requested, unsigned /*index*/) {
  // Until the io_uring and epoll backends land, every request is served by
  // the futex driver (a runtime without I/O).
  (void)requested;
  return make_futex_driver();
}

}  // namespace duet::detail

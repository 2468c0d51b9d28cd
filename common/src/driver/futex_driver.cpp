// futex_driver.cpp: the `none` driver: no I/O, a futex to sleep on.
#include "duet/detail/driver.hpp"
#include "duet/detail/parker.hpp"

namespace duet::detail {
namespace {

class FutexDriver final : public Driver {
 public:
  std::size_t poll(std::size_t) override { return 0; }
  void park(std::optional<std::chrono::nanoseconds> timeout, std::size_t) override {
    if (timeout) {
      parker_.park_for(*timeout);
    } else {
      parker_.park();
    }
  }
  void unpark() noexcept override { parker_.unpark(); }
  [[nodiscard]] IoDriver kind() const noexcept override { return IoDriver::none; }

 private:
  Parker parker_;
};

}  // namespace

std::unique_ptr<Driver> make_futex_driver() {
  return std::make_unique<FutexDriver>();
}

}  // namespace duet::detail

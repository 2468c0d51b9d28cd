// sim_driver.cpp: the driver of a simulated network's worker: an IoBackend
// (duet/io/detail/backend.hpp) whose socket operations the Network answers, and whose
// sleep is the core's futex driver (nothing to wait for but unpark and the
// timeout: the network's deliveries are timers on the wheel, run by the
// pump task). File operations go to the network's simulated disk
// (network/files.cpp, disk/disk.hpp), never to the kernel; a file read,
// write or sync first takes its fault's draw here (Faults::file_read_error,
// file_write_error, file_sync_error), at its submission on the worker, so
// the draws keep the tasks' order.
// Also the task-local that names the host a task runs on.
#include <memory>

#include "duet/io/detail/backend.hpp"
#include "duet/io/detail/io_op.hpp"
#include "network/network.hpp"

namespace duet::sim::detail {
namespace {

class SimDriver final : public io::detail::IoBackend {
 public:
  explicit SimDriver(Network& n) : net_(n), sleep_(duet::detail::make_futex_driver()) {}
  std::size_t poll(std::size_t max_events) override { return sleep_->poll(max_events); }
  void park(std::optional<std::chrono::nanoseconds> timeout, std::size_t max_events) override {
    sleep_->park(timeout, max_events);
  }
  void unpark() noexcept override { sleep_->unpark(); }
  [[nodiscard]] IoDriver kind() const noexcept override { return IoDriver::sim; }
  Poll<long> start(io::detail::OpRequest& q, io::detail::OpSlot& slot, Context& cx) override {
    if (io::detail::is_file_op(q.kind)) {
      if (const int e = net_.file_fault(q.kind, q.len); e != 0) return static_cast<long>(-e);
      return net_.file_op(q, slot, cx);
    }
    return net_.start(q, cx);
  }

 private:
  Network& net_;
  std::unique_ptr<duet::detail::Driver> sleep_;
};

}  // namespace

std::unique_ptr<duet::detail::Driver> make_sim_driver(Network& net) {
  return std::make_unique<SimDriver>(net);
}

const TaskLocal<std::uint32_t>& host_key() noexcept {
  static const TaskLocal<std::uint32_t> key;
  return key;
}

}  // namespace duet::sim::detail

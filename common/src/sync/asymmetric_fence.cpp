// sync/asymmetric_fence.cpp: membarrier(2) behind heavy_fence()
// (sync/asymmetric_fence.hpp).
#include "sync/asymmetric_fence.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace duet::detail {
namespace {

long membarrier(int cmd) noexcept {
  return syscall(__NR_membarrier, cmd, 0, 0);
}

}  // namespace

bool heavy_fence_supported() noexcept {
  static const bool ok = [] {
    const long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
    return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  }();
  return ok;
}

bool heavy_fence() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const bool fenced = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return fenced;
}

}  // namespace duet::detail

// sched/lifo_slot.cpp: the thief's side of the LIFO slot's handshake
// (sched/lifo_slot.hpp).
#include "lifo_slot.hpp"

#include <thread>
#include "duet/detail/cpu_relax.hpp"
#include "sync/asymmetric_fence.hpp"

namespace duet::detail {

bool LifoSlot::stealing_supported() noexcept {
  return heavy_fence_supported();
}

TaskHeader* LifoSlot::steal(TaskHeader* seen) noexcept {
  const auto bits = reinterpret_cast<std::uintptr_t>(seen);
  std::uintptr_t none = 0;
  // Relaxed: a claim carries no data; the barrier below orders it before
  // our read of the slot, and every owner read that follows its own barrier
  // point sees it. Failing means another claim is still open: back off.
  if (!claim_.compare_exchange_strong(none, bits, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
    return nullptr;
  }
  const bool fenced = heavy_fence();
  // Acquire: pairs with the owner's release store of the task, which we are
  // about to run.
  if (fenced && slot_.load(std::memory_order_acquire) == seen) {
    // Relaxed: the owner only compares the verdict; it touches nothing of
    // the task after reading it.
    claim_.store(bits | won, std::memory_order_relaxed);
    return seen;
  }
  // Relaxed: as above; the owner keeps the task it already holds.
  claim_.store(0, std::memory_order_relaxed);
  return nullptr;
}

TaskHeader* LifoSlot::settle_claim(TaskHeader* t) noexcept {
  const auto bits = reinterpret_cast<std::uintptr_t>(t);
  // A thief claimed this very entry and is in its barrier: wait for its
  // verdict (a system call away; yield in case it shares our CPU).
  std::uintptr_t c = claim_.load(std::memory_order_relaxed);
  for (unsigned spins = 0; c == bits; c = claim_.load(std::memory_order_relaxed)) {
    if (++spins < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  if (c != (bits | won)) return t;  // the thief lost: the task is ours
  // The thief runs it. Clear the claim (relaxed: it only reopens the slot
  // to the next claim, which needs no data from us).
  claim_.store(0, std::memory_order_relaxed);
  return nullptr;
}

}  // namespace duet::detail

#include "idle.hpp"

#include <bit>
#include <stdexcept>

namespace duet::detail {

Idle::Idle(unsigned num_workers)
    : state_(num_workers << unpark_shift),
      num_workers_(num_workers),
      sleepers_((num_workers + 63) / 64, 0) {
  if (num_workers == 0 || num_workers > mask) {
    throw std::invalid_argument("duet: worker count must be in [1, 65535]");
  }
}

int Idle::worker_to_notify() {
  // Pairs with the fence-free seq_cst RMWs of parking workers: the work the
  // caller published is ordered before this read of the counters.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!notify_should_wakeup()) return -1;
  std::lock_guard g(mu_);
  if (!notify_should_wakeup()) return -1;
  // One more unparked, one more searching: the woken worker searches.
  state_.fetch_add(1 + (1u << unpark_shift), std::memory_order_seq_cst);
  for (std::size_t w = 0; w < sleepers_.size(); ++w) {
    if (sleepers_[w] != 0) {
      auto bit = std::countr_zero(sleepers_[w]);
      sleepers_[w] &= sleepers_[w] - 1;
      return static_cast<int>(w * 64 + static_cast<unsigned>(bit));
    }
  }
  // Unreachable: the counters and the bitmap change together under mu_.
  state_.fetch_sub(1 + (1u << unpark_shift), std::memory_order_seq_cst);
  return -1;
}

bool Idle::transition_worker_to_searching() {
  auto s = state_.load(std::memory_order_seq_cst);
  if (2 * (s & mask) >= num_workers_) return false;
  state_.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

bool Idle::transition_worker_from_searching() {
  auto prev = state_.fetch_sub(1, std::memory_order_seq_cst);
  return (prev & mask) == 1;
}

bool Idle::transition_worker_to_parked(unsigned worker, bool is_searching) {
  std::lock_guard g(mu_);
  std::uint32_t dec = (1u << unpark_shift) + (is_searching ? 1 : 0);
  auto prev = state_.fetch_sub(dec, std::memory_order_seq_cst);
  sleepers_[worker / 64] |= std::uint64_t{1} << (worker % 64);
  return is_searching && (prev & mask) == 1;
}

bool Idle::is_parked(unsigned worker) {
  std::lock_guard g(mu_);
  return (sleepers_[worker / 64] >> (worker % 64)) & 1;
}

bool Idle::unpark_worker_by_id(unsigned worker) {
  std::lock_guard g(mu_);
  auto bit = std::uint64_t{1} << (worker % 64);
  if ((sleepers_[worker / 64] & bit) == 0) return false;
  sleepers_[worker / 64] &= ~bit;
  state_.fetch_add(1u << unpark_shift, std::memory_order_seq_cst);
  return true;
}

}  // namespace duet::detail

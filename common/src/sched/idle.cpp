#include "idle.hpp"

#include <bit>
#include <stdexcept>

namespace duet::detail {

Idle::Idle(unsigned num_workers, bool watch)
    : state_(num_workers << unpark_shift),
      num_workers_(num_workers),
      sleepers_((num_workers + 63) / 64, 0),
      watch_(watch && num_workers > 1) {
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
  const int w = pick_sleeper();
  // Unreachable: the counters and the bitmap change together under mu_.
  if (w < 0) state_.fetch_sub(1 + (1u << unpark_shift), std::memory_order_seq_cst);
  return w;
}

int Idle::pick_sleeper() {
  int w = first_sleeper_except(watcher_);
  if (w < 0 && watcher_ >= 0) {
    // The watcher sleeps alone: nobody is left to watch for.
    w = watcher_;
    vacate_watch();
  }
  if (w >= 0) unlist(static_cast<unsigned>(w));
  return w;
}

int Idle::first_sleeper_except(int except) const noexcept {
  for (std::size_t i = 0; i < sleepers_.size(); ++i) {
    std::uint64_t word = sleepers_[i];
    if (except >= 0 && static_cast<std::size_t>(except) / 64 == i) {
      word &= ~(std::uint64_t{1} << (static_cast<unsigned>(except) % 64));
    }
    if (word != 0) return static_cast<int>(i * 64 + static_cast<unsigned>(std::countr_zero(word)));
  }
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
  if (watch_ && watcher_ < 0) watcher_ = static_cast<int>(worker);
  return is_searching && (prev & mask) == 1;
}

bool Idle::is_parked(unsigned worker) {
  std::lock_guard g(mu_);
  return (sleepers_[worker / 64] >> (worker % 64)) & 1;
}

bool Idle::unpark_worker_by_id(unsigned worker, int& next_watcher) {
  next_watcher = -1;
  std::lock_guard g(mu_);
  auto bit = std::uint64_t{1} << (worker % 64);
  if ((sleepers_[worker / 64] & bit) == 0) return false;
  unlist(worker);
  state_.fetch_add(1u << unpark_shift, std::memory_order_seq_cst);
  if (watcher_ == static_cast<int>(worker)) {
    vacate_watch();
    watcher_ = first_sleeper_except(-1);
    next_watcher = watcher_;
  }
  return true;
}

Idle::Watch Idle::watch_mode(unsigned worker) {
  std::lock_guard g(mu_);
  if (watcher_ != static_cast<int>(worker)) return Watch::none;
  // Relaxed: the unparked count changes only under mu_, which we hold.
  const bool anyone_awake = (state_.load(std::memory_order_relaxed) >> unpark_shift) > 0;
  // Relaxed: read by workers that took mu_ since (see watcher_asleep()).
  watcher_asleep_.store(!anyone_awake, std::memory_order_relaxed);
  return anyone_awake ? Watch::timed : Watch::asleep;
}

int Idle::take_asleep_watcher() {
  // Relaxed: the flag elects one waker; the watcher re-reads everything
  // under mu_ when it wakes.
  if (!watcher_asleep_.exchange(false, std::memory_order_relaxed)) return -1;
  std::lock_guard g(mu_);
  return watcher_;
}

}  // namespace duet::detail

#include "duet/detail/parker.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

namespace duet::detail {
namespace {
void futex_wait(std::atomic<std::uint32_t>* a, std::uint32_t expected, const timespec* ts) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(a), FUTEX_WAIT_PRIVATE, expected, ts, nullptr,
          0);
}
void futex_wake(std::atomic<std::uint32_t>* a) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(a), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
          0);
}
}  // namespace

void Parker::park() noexcept {
  // Acquire on consuming a token: see what the unparker published before.
  if (state_.exchange(empty, std::memory_order_acquire) == notified) return;
  std::uint32_t e = empty;
  if (!state_.compare_exchange_strong(e, parked, std::memory_order_acquire)) {
    // An unpark slipped in between: consume it.
    state_.store(empty, std::memory_order_relaxed);
    return;
  }
  for (;;) {
    futex_wait(&state_, parked, nullptr);
    std::uint32_t n = notified;
    if (state_.compare_exchange_strong(n, empty, std::memory_order_acquire)) return;
    // Spurious wake: still parked.
  }
}

void Parker::park_for(std::chrono::nanoseconds timeout) noexcept {
  if (state_.exchange(empty, std::memory_order_acquire) == notified) return;
  std::uint32_t e = empty;
  if (!state_.compare_exchange_strong(e, parked, std::memory_order_acquire)) {
    state_.store(empty, std::memory_order_relaxed);
    return;
  }
  timespec ts{static_cast<time_t>(timeout.count() / 1'000'000'000),
              static_cast<long>(timeout.count() % 1'000'000'000)};
  futex_wait(&state_, parked, &ts);
  // Whatever happened (token, timeout, spurious), leave the state empty;
  // a token that arrives now is consumed here rather than lost.
  state_.exchange(empty, std::memory_order_acquire);
}

void Parker::unpark() noexcept {
  // Release: publish the caller's writes (the task it queued) to the parker.
  if (state_.exchange(notified, std::memory_order_release) == parked) futex_wake(&state_);
}

}  // namespace duet::detail

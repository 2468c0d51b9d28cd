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
  if (!token_.prepare_park()) return;
  // A futex may wake spuriously: sleep again until the token is there.
  do {
    futex_wait(&token_.word(), ParkToken::parked, nullptr);
  } while (!token_.take_token());
}

void Parker::park_for(std::chrono::nanoseconds timeout) noexcept {
  if (!token_.prepare_park()) return;
  timespec ts{static_cast<time_t>(timeout.count() / 1'000'000'000),
              static_cast<long>(timeout.count() % 1'000'000'000)};
  futex_wait(&token_.word(), ParkToken::parked, &ts);
  token_.finish_park();
}

void Parker::unpark() noexcept {
  if (token_.unpark()) futex_wake(&token_.word());
}

}  // namespace duet::detail

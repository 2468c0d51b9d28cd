// parker.hpp: sleep until unparked, on a futex. An unpark that comes before
// the park is not lost: it leaves a token that the next park consumes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace duet::detail {

class Parker {
 public:
  /// Sleeps until unpark() (or returns at once if a token is waiting).
  void park() noexcept;
  /// Like park(), but gives up after `timeout`.
  void park_for(std::chrono::nanoseconds timeout) noexcept;
  /// Wakes the parked thread, or leaves a token for its next park().
  void unpark() noexcept;

 private:
  static constexpr std::uint32_t empty = 0, parked = 1, notified = 2;
  std::atomic<std::uint32_t> state_{empty};
};

}  // namespace duet::detail

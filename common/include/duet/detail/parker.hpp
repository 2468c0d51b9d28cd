// duet/detail/parker.hpp: sleep until unparked, on a futex. An unpark that
// comes before the park is not lost: it leaves a token that the next park
// consumes (the handshake is ParkToken's, park_token.hpp).
#pragma once

#include "duet/export.hpp"

#include <chrono>

#include "duet/detail/park_token.hpp"

namespace duet::detail {

class DUET_API Parker {
 public:
  /// Sleeps until unpark() (or returns at once if a token is waiting).
  void park() noexcept;
  /// Like park(), but gives up after `timeout`.
  void park_for(std::chrono::nanoseconds timeout) noexcept;
  /// Wakes the parked thread, or leaves a token for its next park().
  void unpark() noexcept;

 private:
  ParkToken token_;
};

}  // namespace duet::detail

// alloc_tracker.hpp: counts global operator new/delete calls, so that a test
// can check that a runtime torn down holds no live allocation (a leak check
// that works without LeakSanitizer) and that hot paths do not allocate.
#pragma once

#include <cstdint>

namespace duet::test {

struct AllocCounts {
  std::int64_t news = 0;
  std::int64_t deletes = 0;
  [[nodiscard]] std::int64_t live() const { return news - deletes; }
};

/// Process-wide counts so far.
AllocCounts alloc_counts() noexcept;
/// True when this build replaces operator new (not under sanitizers, which
/// bring their own allocator).
bool alloc_tracking_enabled() noexcept;

}  // namespace duet::test

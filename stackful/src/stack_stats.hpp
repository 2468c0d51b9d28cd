// stack_stats.hpp: process-wide counters and knobs of the stack allocators.
#pragma once

#include <atomic>
#include <cstddef>

#include "duet/stackful/stack.hpp"

namespace duet::detail {

/// Monotonic event counters. Relaxed: each is a statistic read on its own;
/// nothing else is published through them.
struct StackCounters {
  std::atomic<std::size_t> mapped{0};
  std::atomic<std::size_t> slabs{0};
  std::atomic<std::size_t> unmapped{0};
  std::atomic<std::size_t> trimmed{0};
  std::atomic<std::size_t> advised{0};       // pooled stacks whose pages went back
  std::atomic<std::size_t> advise_calls{0};  // madvise calls that did it
};
StackCounters& stack_counters() noexcept;

/// The knobs of StackTuning, read on every acquire and release. Relaxed: a
/// knob is read on its own; a new value may take effect a little late.
/// Constant-initialized (no guard, no call on the release path).
struct TuningCells {
  std::atomic<std::size_t> thread_cache_stacks;
  std::atomic<std::size_t> pool_cap_bytes;
  std::atomic<std::size_t> pool_resident_bytes;
  std::atomic<std::size_t> lazy_keep_bytes;
  std::atomic<std::size_t> lazy_reserve_bytes;
  std::atomic<std::size_t> shared_stack_bytes;
};
extern constinit TuningCells g_tuning_cells;  // stack_pool.cpp
inline TuningCells& tuning_cells() noexcept {
  return g_tuning_cells;
}

}  // namespace duet::detail

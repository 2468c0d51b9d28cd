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
  std::atomic<std::size_t> parked_trims{0};  // parked fibers' stacks that gave pages back
  std::atomic<std::size_t> parked_pages{0};  // the pages they gave back
};
StackCounters& stack_counters() noexcept;

/// The pages of `s` below the page that holds `sp - red_zone` that are
/// resident: given back to the kernel (MADV_DONTNEED). The stack's fiber is
/// parked and held (nothing runs on it; `sp` is its saved stack pointer).
/// Returns the pages given back (0: none were resident, and no madvise).
std::size_t trim_below(const Stack& s, const char* sp) noexcept;
/// The bytes under a parked fiber's stack pointer that stay: the x86-64
/// red zone (a leaf function's scratch below the stack pointer).
inline constexpr std::size_t red_zone = 128;

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

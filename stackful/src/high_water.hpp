// high_water.hpp: how much stack a fiber really used.
//
// Always (cheap): at every switch out, the bytes between the top of its
// frames and its saved stack pointer: the stack in use while suspended, and
// the most seen so far (a lower bound of the true high-water mark).
// Measured fibers (FiberConfig::measure_stack, or every fiber after
// duet::set_stack_measurement(true)): the stack is filled with a canary
// before the first run and scanned at the end, which gives the exact mark;
// a lazy stack's canary covers the kept top (StackTuning::lazy_keep_bytes)
// and page residency (mincore) counts below it. A copy fiber's mark is the
// most it had to save. Measured fibers feed the runtime-wide histogram.
#pragma once

#include <atomic>
#include <cstddef>

#include "duet/stackful/fiber.hpp"

namespace duet::detail {

/// In FiberBase::in_use, beside the bytes (a stack is at most 1 GiB and a
/// page): the fiber's pages below its stack pointer were given back while it
/// stayed parked (RuntimeConfig::fiber_stack_trim_after). Set by the look
/// that held it, cleared by its next switch out (note_switch stores the
/// bytes alone), so a look skips the fibers it already trimmed and a park
/// pays nothing for it. Readers of the bytes mask it (in_use_bytes).
inline constexpr std::uint32_t trimmed_bit = std::uint32_t{1} << 31;
[[nodiscard]] inline std::uint32_t in_use_bytes(std::uint32_t word) noexcept {
  return word & ~trimmed_bit;
}

inline void note_switch(FiberBase* f, std::size_t used) noexcept {
  // Relaxed: statistics read on their own by dumps (see FiberBase). Only
  // the thread that switched the fiber out writes them.
  const auto u = static_cast<std::uint32_t>(used);
  f->in_use.store(u, std::memory_order_relaxed);
  if (u > f->high_water.load(std::memory_order_relaxed)) {
    f->high_water.store(u, std::memory_order_relaxed);
  }
}

/// Before the first run: fill the stack below `top` with the canary.
void measure_begin(FiberBase* f, char* bottom, char* top) noexcept;
/// After the fiber finished: find the mark, record it in the histogram.
void measure_end(FiberBase* f, char* bottom, char* top) noexcept;

}  // namespace duet::detail

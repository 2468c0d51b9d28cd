// cycle_clock.hpp: the clock the histograms read on a sampled run or wake
// (duet/histogram.hpp): the CPU's cycle counter where it has a cheap one
// (x86-64's TSC, AArch64's virtual counter), read without a system call or
// a fence, and converted to seconds only when a snapshot is taken.
//
// Rules: a reading is a raw count with no fixed unit; two readings on
// different CPUs compare only as far as the counters are synchronised (an
// invariant TSC is; a difference that comes out negative counts as 0).
// seconds_per_cycle() calibrates the count against steady_clock from the
// first start_cycle_clock() call to now.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace duet::detail {

/// The raw count, masked to 63 bits (the top bit tags a wake stamp,
/// run_sampler.hpp).
[[gnu::always_inline]] inline std::uint64_t read_cycles() noexcept {
  std::uint64_t v;
#if defined(__x86_64__) || defined(__i386__)
  v = __rdtsc();
#elif defined(__aarch64__)
  asm volatile("mrs %0, cntvct_el0" : "=r"(v));
#else
  v = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
#endif
  return v & ~(std::uint64_t{1} << 63);
}

/// Takes the calibration's first reading, once per process (later calls
/// do nothing). A runtime with histograms on calls it at its start.
void start_cycle_clock() noexcept;

/// Seconds per raw count, from the first reading to now; waits until at
/// least a few milliseconds separate the two, so that a snapshot taken
/// right after the start is still calibrated to better than 0.1%.
double seconds_per_cycle() noexcept;

}  // namespace duet::detail

// duet/histogram.hpp: the per-worker histograms that Runtime::stats()
// returns (RuntimeConfig::histogram_sample_every turns them on): how long a
// run keeps its worker, how long a woken task waits for its run, and how
// much stack measured fibers used.
//
// Example (fiber):
//   duet::RuntimeConfig cfg;
//   cfg.histogram_sample_every = 16;  // on: a tick's first run timed, a wake in 16 stamped
//   duet::Runtime rt(cfg);
//   /* ... */
//   duet::Histogram runs;
//   for (const auto& w : rt.stats()) runs.merge(w.histograms.run_time);
//   std::printf("p99 run %.1f us over %llu sampled runs\n", runs.quantile(0.99) * 1e6,
//               static_cast<unsigned long long>(runs.count));
//
// A histogram keeps raw values (cycles of the worker's cycle counter, or
// bytes) in log-linear buckets: four per power of two, so a bucket is at
// most a quarter of its lower bound wide and a quantile read from it is at
// most 25% above the true value. Values 0 to 3 have a bucket each; the last
// bucket holds everything from 2^48 up. `unit` converts a raw value to the
// histogram's unit (seconds for times, calibrated against steady_clock when
// the snapshot was taken; 1 for bytes). docs/observability.md,
// "Histograms", states what each one samples and what it leaves out.
#pragma once

#include "duet/export.hpp"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <limits>

namespace duet {

struct DUET_API Histogram {
  static constexpr std::size_t sub_buckets = 4;  // per power of two
  static constexpr unsigned max_exponent = 48;   // the last bucket: 2^48 and up
  static constexpr std::size_t buckets = 4 + (max_exponent - 2) * sub_buckets + 1;

  std::array<std::uint64_t, buckets> counts{};
  std::uint64_t count = 0;  // values recorded
  std::uint64_t sum = 0;    // their sum, raw
  std::uint64_t max = 0;    // the largest, raw
  /// What one raw unit is worth: seconds per cycle for the time
  /// histograms, 1 (byte) for the stack histogram.
  double unit = 1.0;

  /// The bucket of a raw value.
  static constexpr std::size_t bucket_of(std::uint64_t raw) noexcept {
    if (raw < 4) return static_cast<std::size_t>(raw);
    const auto e = static_cast<unsigned>(std::bit_width(raw)) - 1;  // >= 2
    if (e >= max_exponent) return buckets - 1;
    const auto sub = static_cast<std::size_t>(raw >> (e - 2)) & (sub_buckets - 1);
    return 4 + (e - 2) * sub_buckets + sub;
  }
  /// The largest raw value bucket `i` holds (the last: the type's maximum).
  static constexpr std::uint64_t raw_upper(std::size_t i) noexcept {
    if (i < 4) return i;
    if (i >= buckets - 1) return std::numeric_limits<std::uint64_t>::max();
    const std::size_t e = (i - 4) / sub_buckets + 2, sub = (i - 4) % sub_buckets;
    const std::uint64_t width = std::uint64_t{1} << (e - 2);
    return (sub_buckets + sub) * width + width - 1;
  }
  /// raw_upper(i) in the histogram's unit (infinity for the last bucket).
  [[nodiscard]] double upper_bound(std::size_t i) const noexcept;

  /// The upper bound (in `unit`) of the bucket that covers fraction `q` of
  /// the values (0 when empty): the true quantile is at most this, and at
  /// least three quarters of it.
  [[nodiscard]] double quantile(double q) const noexcept;
  /// The mean, in `unit` (0 when empty).
  [[nodiscard]] double mean() const noexcept;
  /// Adds another histogram's values (several workers' into one). The
  /// units must agree (they do for one runtime's snapshot); an empty
  /// histogram takes the other's.
  void merge(const Histogram& other) noexcept;
  /// One line per non-empty bucket.
  void print(std::ostream& os, const char* unit_name) const;
};

/// One worker's histograms (all empty while RuntimeConfig::
/// histogram_sample_every is 0).
struct WorkerHistograms {
  /// The first run of each tick (RuntimeConfig::tick_budget runs): how
  /// long it kept the worker, from the loop's pick to the loop's next pick
  /// (a poll or a fiber's slice, with the loop's bookkeeping of its end),
  /// in seconds.
  Histogram run_time;
  /// Sampled wake-ups and spawns made on a worker (one in
  /// RuntimeConfig::histogram_sample_every): from the wake to the start of
  /// the task's run, recorded by the worker that ran it, in seconds.
  Histogram scheduling_delay;
  /// Measured fibers (FiberConfig::measure_stack, set_stack_measurement)
  /// that finished on this worker: each one's exact stack high-water mark,
  /// in bytes. Recorded whether or not the time histograms are on.
  Histogram fiber_stack;
  /// RuntimeConfig::histogram_sample_every for this runtime (0: off).
  std::uint32_t sample_every = 0;
};

}  // namespace duet

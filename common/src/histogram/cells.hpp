// cells.hpp: one histogram as its one writer keeps it (duet/histogram.hpp):
// bucket counts, count, sum and max, each a relaxed atomic so that a
// snapshot may read them while the writer goes on.
//
// Rules: one thread writes (a worker, for its own histograms), with a
// relaxed load and store per cell: a plain `inc` on x86, no locked
// instruction. A reader sees each cell as its writer left it at some
// moment, not all of them from one instant: the count may run a value
// ahead of or behind the buckets' sum.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "counter.hpp"
#include "duet/histogram.hpp"

namespace duet::detail {

class HistogramCells {
 public:
  /// The writer's record of one raw value.
  void record(std::uint64_t raw) noexcept {
    counts_[Histogram::bucket_of(raw)].inc();
    count_.inc();
    sum_.inc(raw);
    // Relaxed: only the writer stores it (see the file's rules).
    if (raw > max_.load(std::memory_order_relaxed)) max_.store(raw, std::memory_order_relaxed);
  }

  /// A copy for readers, with `unit` stamped on it.
  [[nodiscard]] Histogram snapshot(double unit) const noexcept {
    Histogram h;
    for (std::size_t i = 0; i < Histogram::buckets; ++i) {
      h.counts[i] = counts_[i].get();
    }
    h.count = count_.get();
    h.sum = sum_.get();
    h.max = max_.load(std::memory_order_relaxed);
    h.unit = unit;
    return h;
  }

 private:
  std::array<Counter, Histogram::buckets> counts_{};
  Counter count_, sum_;
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace duet::detail

// counter.hpp: a statistic with one writer and any number of readers: a
// histogram's cells (cells.hpp) and a worker's statistics (sched/worker.hpp).
#pragma once

#include <atomic>
#include <cstdint>

namespace duet::detail {

/// A counter written by one thread and read by others: a relaxed load and
/// store (a plain `inc` on x86), no locked instruction. Relaxed suffices:
/// each reader wants a value the writer had, not an order with other data.
struct Counter {
  std::atomic<std::uint64_t> v{0};
  void inc(std::uint64_t n = 1) noexcept {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

}  // namespace duet::detail

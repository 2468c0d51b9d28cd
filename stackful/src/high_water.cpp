// high_water.cpp: canary measurement of stack use, and the histogram.
#include "high_water.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <ostream>
#include <vector>

#include "duet/detail/stackful_ops.hpp"
#include "duet/stackful/introspect.hpp"
#include "stack_stats.hpp"
#include "switch.hpp"

namespace duet::detail {
namespace {

constexpr std::uint64_t canary = 0xd0e7'5a5a'c0de'f1b3ull;

// Relaxed everywhere: the counters are statistics.
struct Hist {
  std::array<std::atomic<std::uint64_t>, StackHistogram::buckets> count{};
  std::atomic<std::uint64_t> fibers{0}, max_bytes{0}, sum_bytes{0};
};
Hist g_hist;

/// The lowest address the canary covers: all of a pooled stack; the kept
/// top of a lazy one (filling 8 MiB would commit it).
char* fill_low(const FiberBase* f, char* bottom, char* top) noexcept {
  if (f->strategy != StackStrategy::lazy) return bottom;
  const std::size_t keep = tuning_cells().lazy_keep_bytes.load(std::memory_order_relaxed);
  return static_cast<std::size_t>(top - bottom) > keep ? top - keep : bottom;
}

DUET_NO_SANITIZE_ADDRESS void fill(char* lo, char* hi) noexcept {
  auto* p = reinterpret_cast<std::uint64_t*>(lo);
  auto* e = reinterpret_cast<std::uint64_t*>(hi);
  while (p < e) *p++ = canary;
}

DUET_NO_SANITIZE_ADDRESS char* first_used(char* lo, char* hi) noexcept {
  auto* p = reinterpret_cast<std::uint64_t*>(lo);
  auto* e = reinterpret_cast<std::uint64_t*>(hi);
  while (p < e && *p == canary) ++p;
  return reinterpret_cast<char*>(p);
}

/// The lowest resident page in [lo, hi), or hi.
char* lowest_resident(char* lo, char* hi) noexcept {
  const std::size_t pg = page_size();
  const std::size_t pages = static_cast<std::size_t>(hi - lo) / pg;
  if (pages == 0) return hi;
  try {
    std::vector<unsigned char> v(pages);
    if (mincore(lo, pages * pg, v.data()) != 0) return hi;
    for (std::size_t i = 0; i < pages; ++i) {
      if ((v[i] & 1) != 0) return lo + i * pg;
    }
  } catch (...) {
  }
  return hi;
}

void record(std::uint64_t bytes) noexcept {
  const std::size_t i = bytes <= 256 ? 0
                                     : std::min<std::size_t>(std::bit_width(bytes - 1) - 8,
                                                             StackHistogram::buckets - 1);
  g_hist.count[i].fetch_add(1, std::memory_order_relaxed);
  g_hist.fibers.fetch_add(1, std::memory_order_relaxed);
  g_hist.sum_bytes.fetch_add(bytes, std::memory_order_relaxed);
  std::uint64_t m = g_hist.max_bytes.load(std::memory_order_relaxed);
  while (bytes > m &&
         !g_hist.max_bytes.compare_exchange_weak(m, bytes, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::atomic<bool> g_measure_all{false};

void measure_begin(FiberBase* f, char* bottom, char* top) noexcept {
  if (f->strategy == StackStrategy::copy) return;  // measured by what it saves
  fill(fill_low(f, bottom, top), top);
}

void measure_end(FiberBase* f, char* bottom, char* top) noexcept {
  std::size_t used = f->high_water.load(std::memory_order_relaxed);
  if (f->strategy != StackStrategy::copy) {
    char* lo = fill_low(f, bottom, top);
    char* mark = first_used(lo, top);
    if (mark == lo && lo != bottom) mark = std::min(mark, lowest_resident(bottom, lo));
    used = std::max(used, static_cast<std::size_t>(top - mark));
  }
  f->high_water.store(static_cast<std::uint32_t>(used), std::memory_order_relaxed);
  record(used);
  record_fiber_stack_mark(used);
}

}  // namespace duet::detail

namespace duet {

std::size_t StackHistogram::quantile_bytes(double q) const noexcept {
  if (fibers == 0) return 0;
  const auto want = static_cast<std::uint64_t>(q * static_cast<double>(fibers) + 0.999999);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets; ++i) {
    seen += count[i];
    if (seen >= want) return bucket_limit(i);
  }
  return bucket_limit(buckets - 1);
}

void StackHistogram::print(std::ostream& os) const {
  os << "stack high-water of " << fibers << " measured fibers (max " << max_bytes << " B, mean "
     << (fibers != 0 ? sum_bytes / fibers : 0) << " B):\n";
  for (std::size_t i = 0; i < buckets; ++i) {
    if (count[i] == 0) continue;
    os << "  <= " << bucket_limit(i) << " B: " << count[i] << "\n";
  }
}

void set_stack_measurement(bool on) noexcept {
  detail::g_measure_all.store(on, std::memory_order_relaxed);
}

StackHistogram stack_histogram() noexcept {
  StackHistogram h;
  constexpr auto r = std::memory_order_relaxed;
  for (std::size_t i = 0; i < StackHistogram::buckets; ++i)
    h.count[i] = detail::g_hist.count[i].load(r);
  h.fibers = detail::g_hist.fibers.load(r);
  h.max_bytes = detail::g_hist.max_bytes.load(r);
  h.sum_bytes = detail::g_hist.sum_bytes.load(r);
  return h;
}

void reset_stack_histogram() noexcept {
  constexpr auto r = std::memory_order_relaxed;
  for (auto& c : detail::g_hist.count) c.store(0, r);
  detail::g_hist.fibers.store(0, r);
  detail::g_hist.max_bytes.store(0, r);
  detail::g_hist.sum_bytes.store(0, r);
}

}  // namespace duet

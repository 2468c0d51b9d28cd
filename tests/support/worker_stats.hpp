// worker_stats.hpp: a runtime's WorkerStats counter summed over its workers
// (hand-offs, join hand-offs, polls...), for tests that check a mechanism
// was taken.
#pragma once

#include <cstdint>

#include "duet/duet.hpp"

namespace duet::test {

/// Sums `field` (a pointer to a WorkerStats member) over `rt`'s workers.
inline std::uint64_t worker_stat(duet::Runtime& rt, std::uint64_t duet::WorkerStats::*field) {
  std::uint64_t n = 0;
  for (const auto& s : rt.stats()) n += s.*field;
  return n;
}

}  // namespace duet::test

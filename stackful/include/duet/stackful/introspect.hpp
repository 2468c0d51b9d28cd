// duet/stackful/introspect.hpp: what fibers are doing and how much stack
// they need.
//
// Example (fiber):
//   duet::set_stack_measurement(true);          // every fiber from now on
//   /* ... run the workload ... */
//   duet::stack_histogram().print(std::cout);   // sizes a stack must have
//   duet::dump_tasks(rt, std::cerr);            // every live task (duet/dump.hpp)
//   duet::dump_tasks_on_signal(rt);             // kill -USR1 <pid> prints it
//
// stackful/gdb/duet-gdb.py lists suspended fibers and shows their
// backtraces in gdb (docs/stackful.md).
#pragma once

#include "duet/export.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>

#include "duet/dump.hpp"

namespace duet {
class Runtime;

/// The exact stack high-water marks of measured fibers, process-wide, in
/// power-of-two buckets: bucket i counts marks in (2^(i+7), 2^(i+8)] bytes
/// (bucket 0: up to 256 B; the last: up to 1 GiB).
struct DUET_API StackHistogram {
  static constexpr std::size_t buckets = 23;
  std::array<std::uint64_t, buckets> count{};
  std::uint64_t fibers = 0;     // measured fibers that finished
  std::uint64_t max_bytes = 0;  // the largest mark
  std::uint64_t sum_bytes = 0;
  /// The upper bound of bucket i, in bytes.
  static constexpr std::size_t bucket_limit(std::size_t i) noexcept {
    return std::size_t{256} << i;
  }
  /// The smallest bucket limit that covers fraction `q` of the fibers: the
  /// stack size that fits that share of this workload.
  [[nodiscard]] std::size_t quantile_bytes(double q) const noexcept;
  /// One line per non-empty bucket.
  void print(std::ostream& os) const;
};

/// Measure every fiber spawned from now on (a canary fill at the first run
/// and a scan at the end: costs about one memset of the stack). Off by
/// default; FiberConfig::measure_stack measures one fiber.
DUET_API void set_stack_measurement(bool on) noexcept;
[[nodiscard]] DUET_API StackHistogram stack_histogram() noexcept;
DUET_API void reset_stack_histogram() noexcept;

/// On `signo` (default SIGUSR1), a helper thread writes dump_tasks(rt) to
/// stderr. Until the runtime is destroyed: call stop_dump_on_signal() before.
DUET_API void dump_tasks_on_signal(Runtime& rt, int signo = 10 /* SIGUSR1 */);
DUET_API void stop_dump_on_signal() noexcept;

namespace this_fiber {
/// Stack bytes the calling fiber uses now (0 when not on a fiber).
DUET_API std::size_t stack_in_use() noexcept;
/// The calling fiber's usable stack size (a copy fiber: its shared stack's).
DUET_API std::size_t stack_size() noexcept;
}  // namespace this_fiber

}  // namespace duet

// duet/stackful/options.hpp: what a fiber's spawn says: its options
// (FiberConfig), where it was spawned (SpawnSite), and the tag that selects
// the stackful backend (duet::stackful). duet/stackful/fiber.hpp spawns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "duet/stackful/stack.hpp"

namespace duet {
class Runtime;

/// Per-spawn fiber options.
struct FiberConfig {
  /// Where the stack comes from; unset takes RuntimeConfig::fiber_stack_strategy.
  std::optional<StackStrategy> strategy{};
  /// pooled / unguarded_unsafe: usable stack bytes (0: RuntimeConfig::
  /// fiber_stack_size). lazy: bytes reserved (0: StackTuning::
  /// lazy_reserve_bytes; at most max_fiber_stack). copy: ignored (the shared
  /// stack's size is StackTuning::shared_stack_bytes).
  std::size_t stack_size = 0;
  /// A name for dumps and overflow reports (static storage: not copied).
  const char* name = nullptr;
  /// Measure the exact stack high-water mark (fills the stack with a canary
  /// at the first run, scans it at the end; see duet/stackful/introspect.hpp).
  bool measure_stack = false;
};

/// Where a fiber was spawned, for dumps and overflow reports. Taken from
/// __builtin_FILE/__builtin_LINE (GCC and clang) rather than
/// std::source_location, which clang 14 does not provide with libstdc++ 12
/// (Debian 12's default pair); as a default argument, current() captures the
/// caller's location.
struct SpawnSite {
  const char* file = nullptr;
  std::uint_least32_t line = 0;
  static constexpr SpawnSite current(const char* file = __builtin_FILE(),
                                     std::uint_least32_t line = __builtin_LINE()) noexcept {
    return SpawnSite{file, line};
  }
};

/// The tag that selects the stackful backend at spawn:
/// `rt.spawn(duet::stackful, fn)` or `rt.spawn(duet::stackful(opts), fn)`.
/// The second form records the spawn site for dumps and overflow reports.
struct Stackful {
  FiberConfig options{};
  SpawnSite site{};
  bool has_site = false;
  constexpr Stackful operator()(FiberConfig o,
                                SpawnSite loc = SpawnSite::current()) const noexcept {
    return Stackful{o, loc, true};
  }
};
inline constexpr Stackful stackful{};

}  // namespace duet

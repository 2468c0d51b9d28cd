// duet/buggify.hpp: fault points in user code (FoundationDB's BUGGIFY,
// madsim's buggify): a branch that production never takes and a
// simulation takes by the seed, to make rare paths (a slow disk, a short
// write, a timeout, a retry) common in tests.
//
// Outside a duet::sim World, buggify() is always false (one load of a
// pointer and a branch). Inside one, each call site (its file and line)
// is enabled or not for the whole run when it is first reached, with the
// world's WorldConfig::buggify_sites probability, and an enabled site
// fires at each call with `probability`; both draws come from a generator
// of the world's own, seeded from its seed, so a seed replays which sites
// fired and when (each firing is a line of the world's trace).
//
// Example (coroutine):
//   if (duet::buggify()) co_await duet::sleep(std::chrono::seconds(2));  // a slow peer
//   int n = co_await work();
//   if (duet::buggify(0.1)) n = -1;  // a failure the caller must handle
//   use(n);
#pragma once

#include "duet/export.hpp"

namespace duet {

namespace detail {

/// What decides the fault points (a duet::sim World installs one).
class FaultPoints {
 public:
  /// Whether the site at `file`:`line` fires now, with `probability`.
  virtual bool fire(double probability, const char* file, unsigned line) noexcept = 0;

 protected:
  ~FaultPoints() = default;
};
/// Installs `f` (null: none; fault points never fire). One at a time:
/// installing over another throws std::logic_error.
DUET_API void install_fault_points(FaultPoints* f);
/// The decision at one site: false with none installed.
DUET_API bool buggify_at(double probability, const char* file, unsigned line) noexcept;

}  // namespace detail

/// Whether this fault point fires (see the header comment). `probability`
/// is per call at an enabled site; `file` and `line` name the site (the
/// caller's, by default: the builtins GCC and Clang share, which
/// std::source_location needs a newer Clang for).
[[nodiscard]] inline bool buggify(double probability = 0.25, const char* file = __builtin_FILE(),
                                  unsigned line = __builtin_LINE()) noexcept {
  return detail::buggify_at(probability, file, line);
}

}  // namespace duet

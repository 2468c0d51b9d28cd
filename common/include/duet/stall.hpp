// duet/stall.hpp: what the stall detector reports (RuntimeConfig::
// stall_threshold, docs/observability.md).
//
// A stall is one run of a task (a poll, or a fiber's slice) that keeps its
// worker longer than the threshold: nothing else runs on that worker
// meanwhile. The detector notices it while it still runs, takes a backtrace
// of the worker thread from a signal handler on that thread, and hands a
// StallReport to RuntimeConfig::on_stall (default: printed to stderr).
//
// Example (file):
//   void watch(duet::RuntimeConfig& cfg) {
//     cfg.stall_threshold = std::chrono::milliseconds(10);
//     cfg.on_stall = [](const duet::StallReport& r) { std::fputs(r.text().c_str(), stderr); };
//   }
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace duet {

struct StallReport {
  unsigned worker = 0;  // index of the stalled worker
  /// How long the run had kept the worker when it was seen (a lower bound:
  /// the detector looks every threshold / 2).
  std::chrono::nanoseconds running_for{0};
  const char* kind = "";       // "coroutine", "poll" or "fiber" (to_string(TaskKind))
  const char* name = nullptr;  // fibers: FiberConfig::name; else null
  const char* file = nullptr;  // fibers: the spawn site; else null
  unsigned line = 0;
  /// The worker thread's frames when the signal arrived, innermost first,
  /// symbolized ("function+0x1f (object)", the function demangled, named
  /// from the object's full symbol table so that internal functions are
  /// named too; "object+0x1f" in a stripped object).
  std::vector<std::string> backtrace;
  /// Stalls seen but not reported since the last report (rate limit).
  unsigned long suppressed = 0;

  /// The report as the default sink prints it: a headline, then one line
  /// per frame.
  [[nodiscard]] DUET_API std::string text() const;
};

}  // namespace duet

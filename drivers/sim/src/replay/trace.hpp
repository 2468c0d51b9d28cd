// trace.hpp: the simulated network's trace: one line per delivery, fault
// and control, stamped with its offset from the clock's start and folded
// into a running hash, the seed's fingerprint; the lines themselves kept
// only when the world asks (WorldConfig::keep_trace). And a payload's
// text in its lines (an address's is ../network/ip.hpp's). The network
// adds lines under its lock, in the order its seed fixes, so a seed
// replays the same hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "duet/time/clock.hpp"

namespace duet::sim::detail {

/// FNV-1a 64: the trace's hash, and each payload's.
inline std::uint64_t fnv1a(const void* p, std::size_t n,
                           std::uint64_t h = 0xcbf29ce484222325ULL) noexcept {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// A payload's hash as the trace prints it: 16 hex digits.
std::string hash_text(const void* p, std::size_t n);

class Trace {
 public:
  explicit Trace(bool keep_lines) : keep_lines_(keep_lines) {}

  /// The clock's start: a line's stamp is its offset from it.
  void start(Instant t0) { t0_ = t0; }
  [[nodiscard]] Instant started() const { return t0_; }
  /// Adds `line`, stamped now.
  void add(std::string line);

  [[nodiscard]] std::uint64_t hash() const noexcept { return hash_; }
  [[nodiscard]] std::size_t events() const noexcept { return events_; }
  [[nodiscard]] const std::vector<std::string>& lines() const noexcept { return lines_; }

 private:
  bool keep_lines_;
  Instant t0_{};
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;  // fnv1a's offset basis
  std::size_t events_ = 0;
  std::vector<std::string> lines_;
};

}  // namespace duet::sim::detail

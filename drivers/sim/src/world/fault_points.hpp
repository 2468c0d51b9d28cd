// fault_points.hpp: the world's decider of duet::buggify() (duet/buggify.hpp):
// each call site (its file's name and its line) is enabled for the run
// with WorldConfig::buggify_sites when first reached, and an enabled one
// fires with the call's probability; the draws come from a generator of
// the decider's own, seeded from the world's seed, taken under its lock in
// the order the calls come (the world's worker, or the test's thread while
// the world stands still), so a seed replays them. A firing is a trace
// line, "buggify <file>:<line>".
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "../network/network.hpp"
#include "../replay/draws.hpp"
#include "duet/buggify.hpp"

namespace duet::sim::detail {

class WorldFaultPoints final : public duet::detail::FaultPoints {
 public:
  /// Installs itself until destroyed.
  WorldFaultPoints(std::uint64_t seed, double sites, Network& net);
  ~WorldFaultPoints();
  WorldFaultPoints(const WorldFaultPoints&) = delete;
  WorldFaultPoints& operator=(const WorldFaultPoints&) = delete;

  bool fire(double probability, const char* file, unsigned line) noexcept override;

 private:
  std::mutex mu_;
  Draws draws_;
  const double sites_;
  Network& net_;
  /// Each site reached: whether it is enabled.
  std::map<std::pair<std::string, unsigned>, bool> enabled_;
};

}  // namespace duet::sim::detail

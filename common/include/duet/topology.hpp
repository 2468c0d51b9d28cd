// duet/topology.hpp: the machine as hwloc sees it: cores, hardware threads,
// caches, NUMA nodes; and which CPUs a placement policy pins workers to.
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <string>
#include <vector>

#include "duet/config.hpp"

namespace duet {

struct CacheLevel {
  unsigned level = 0;      // 1, 2, 3
  std::size_t size = 0;    // bytes, per instance
  std::size_t line = 0;    // bytes
  unsigned instances = 0;  // how many such caches
  std::string type;        // "data", "unified", "instruction"
};

class DUET_API Topology {
 public:
  /// The machine this process runs on (discovered once).
  static const Topology& machine();

  [[nodiscard]] unsigned cores() const noexcept {
    return static_cast<unsigned>(core_first_pu_.size());
  }
  [[nodiscard]] unsigned pus() const noexcept { return static_cast<unsigned>(pus_.size()); }
  [[nodiscard]] unsigned numa_nodes() const noexcept { return numa_nodes_; }
  [[nodiscard]] const std::vector<CacheLevel>& caches() const noexcept { return caches_; }
  /// Size of the data/unified cache at `level` (bytes), 0 if unknown.
  [[nodiscard]] std::size_t cache_size(unsigned level) const noexcept;
  [[nodiscard]] const std::string& cpu_model() const noexcept { return cpu_model_; }

  /// OS CPU numbers for `n` workers under `p` (empty for Placement::none).
  /// With more workers than CPUs the list wraps around.
  [[nodiscard]] std::vector<int> cpus_for(Placement p, unsigned n) const;
  /// Pins the calling thread to one OS CPU; false if that failed.
  static bool pin_current_thread(int cpu) noexcept;

  /// One line: "<CPU model>: 1 package, 2 cores, 2 PUs, L1d 48 KiB, ..."
  [[nodiscard]] std::string describe() const;

 private:
  Topology();
  std::vector<int> pus_;             // OS indices of all PUs, in hwloc order
  std::vector<int> core_first_pu_;   // first PU of each core
  std::vector<unsigned> pu_domain_;  // per PU: index of its largest shared cache / package
  unsigned numa_nodes_ = 1;
  std::vector<CacheLevel> caches_;
  std::string cpu_model_;
};

}  // namespace duet

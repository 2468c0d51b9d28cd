#include "duet/topology.hpp"

#include <hwloc.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace duet {
namespace {
std::string read_cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown";
}

std::string human(std::size_t b) {
  char buf[32];
  if (b >= (1u << 20) && b % (1u << 20) == 0) {
    std::snprintf(buf, sizeof buf, "%zu MiB", b >> 20);
  } else {
    std::snprintf(buf, sizeof buf, "%zu KiB", b >> 10);
  }
  return buf;
}
}  // namespace

Topology::Topology() : cpu_model_(read_cpu_model()) {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
    // Without hwloc data, fall back to what the kernel says.
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 0; i < n; ++i) {
      pus_.push_back(i);
      core_first_pu_.push_back(i);
      pu_domain_.push_back(0);
    }
    return;
  }
  const int npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  // The largest cache above a PU (or its package) names its domain: that is
  // what `scatter` spreads workers across.
  std::map<hwloc_obj_t, unsigned> domains;
  for (int i = 0; i < npu; ++i) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, static_cast<unsigned>(i));
    pus_.push_back(static_cast<int>(pu->os_index));
    hwloc_obj_t dom = nullptr;
    for (hwloc_obj_t p = pu->parent; p != nullptr; p = p->parent) {
      if (hwloc_obj_type_is_dcache(p->type) && p->attr->cache.depth >= 2) dom = p;
      if (p->type == HWLOC_OBJ_PACKAGE && dom == nullptr) dom = p;
    }
    auto [it, _] = domains.emplace(dom, static_cast<unsigned>(domains.size()));
    pu_domain_.push_back(it->second);
  }
  const int ncore = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  for (int i = 0; i < ncore; ++i) {
    hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, static_cast<unsigned>(i));
    hwloc_obj_t pu = hwloc_get_obj_inside_cpuset_by_type(topo, core->cpuset, HWLOC_OBJ_PU, 0);
    if (pu != nullptr) core_first_pu_.push_back(static_cast<int>(pu->os_index));
  }
  if (core_first_pu_.empty()) core_first_pu_ = pus_;
  numa_nodes_ =
      static_cast<unsigned>(std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE)));
  const hwloc_obj_type_t levels[] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE,
                                     HWLOC_OBJ_L4CACHE};
  for (unsigned l = 0; l < 4; ++l) {
    int n = hwloc_get_nbobjs_by_type(topo, levels[l]);
    if (n <= 0) continue;
    hwloc_obj_t c = hwloc_get_obj_by_type(topo, levels[l], 0);
    CacheLevel cl;
    cl.level = l + 1;
    cl.size = c->attr->cache.size;
    cl.line = c->attr->cache.linesize;
    cl.instances = static_cast<unsigned>(n);
    cl.type = c->attr->cache.type == HWLOC_OBJ_CACHE_DATA      ? "data"
              : c->attr->cache.type == HWLOC_OBJ_CACHE_UNIFIED ? "unified"
                                                               : "instruction";
    caches_.push_back(cl);
  }
  hwloc_topology_destroy(topo);
}

const Topology& Topology::machine() {
  static const Topology t;
  return t;
}

std::size_t Topology::cache_size(unsigned level) const noexcept {
  for (const auto& c : caches_) {
    if (c.level == level && c.type != "instruction") return c.size;
  }
  return 0;
}

std::vector<int> Topology::cpus_for(Placement p, unsigned n) const {
  std::vector<int> base;
  switch (p) {
    case Placement::none:
      return {};
    case Placement::one_per_core:
      base = core_first_pu_;
      break;
    case Placement::compact:
      base = pus_;
      break;
    case Placement::scatter: {
      // Round-robin over domains, taking one core's first PU at a time.
      std::map<unsigned, std::vector<int>> by_dom;
      for (std::size_t i = 0; i < pus_.size(); ++i) {
        if (std::find(core_first_pu_.begin(), core_first_pu_.end(), pus_[i]) !=
            core_first_pu_.end()) {
          by_dom[pu_domain_[i]].push_back(pus_[i]);
        }
      }
      for (std::size_t k = 0; base.size() < core_first_pu_.size(); ++k) {
        for (auto& [d, v] : by_dom) {
          if (k < v.size()) base.push_back(v[k]);
        }
      }
      break;
    }
  }
  if (base.empty()) return {};
  std::vector<int> out;
  out.reserve(n);
  for (unsigned i = 0; i < n; ++i) out.push_back(base[i % base.size()]);
  return out;
}

bool Topology::pin_current_thread(int cpu) noexcept {
  if (cpu < 0) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

std::string Topology::describe() const {
  std::ostringstream o;
  o << cpu_model_ << ": " << cores() << " cores, " << pus() << " PUs, " << numa_nodes_
    << " NUMA node(s)";
  for (const auto& c : caches_) {
    o << ", L" << c.level
      << (c.type == "data"          ? "d"
          : c.type == "instruction" ? "i"
                                    : "")
      << " " << human(c.size) << " x" << c.instances;
  }
  return o.str();
}

}  // namespace duet

// lab.hpp: what every C++ experiment program shares (lab_*, stackful_*,
// sync_bench, page_touch): the one JSONL emitter (lab::emit, one record per
// measured number), RSS from /proc, a steady clock, CPU pinning, a tiny
// argument parser. (lab_gate.hpp adds Gate, a duet poll future to park on;
// programs/stackful_common.hpp adds what the stackful_* programs share.)
//
// Record format (one JSON object a line on stdout; experiments/lab/stats.py
// folds repeated runs into median/min/max; "n" is null where no N applies):
//
//   {"experiment":"spawn_seq","impl":"duet-stackless","metric":"time_per_op",
//    "value":812.5,"unit":"ns","n":10000,"method":"steady_clock, 1 worker"}
#pragma once

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace lab {

inline std::string json_escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

/// Prints one record. `n` < 0 leaves "n" null.
inline void emit(std::string_view experiment, std::string_view impl, std::string_view metric,
                 double value, std::string_view unit, long long n, std::string_view method) {
  std::string ns = n < 0 ? "null" : std::to_string(n);
  std::printf(
      "{\"experiment\":\"%s\",\"impl\":\"%s\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\","
      "\"n\":%s,\"method\":\"%s\"}\n",
      json_escape(experiment).c_str(), json_escape(impl).c_str(), json_escape(metric).c_str(),
      value, json_escape(unit).c_str(), ns.c_str(), json_escape(method).c_str());
  std::fflush(stdout);
}

using Clock = std::chrono::steady_clock;
inline double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

/// Resident set size in bytes (/proc/self/statm, field 2: the pages VmRSS
/// counts): every program's one RSS reading.
inline long long rss_bytes() {
  long long pages_total = 0, pages_res = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lld %lld", &pages_total, &pages_res) != 2) pages_res = 0;
    std::fclose(f);
  }
  return pages_res * sysconf(_SC_PAGESIZE);
}
/// Virtual size in bytes.
inline long long vm_bytes() {
  long long pages_total = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lld", &pages_total) != 1) pages_total = 0;
    std::fclose(f);
  }
  return pages_total * sysconf(_SC_PAGESIZE);
}

/// CPU-bound work of a known length: an LCG the compiler cannot fold (the
/// same loop as the Go and Tokio peers' `spin`), calibrated once per
/// process: `spin(2 * spins_per_us)` burns about 2 us on this core.
inline volatile unsigned long spin_sink = 0;
inline long spins_per_us = 100;
inline void spin(long iters) {
  unsigned long x = spin_sink;
  for (long i = 0; i < iters; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  spin_sink = x;
}
/// Sets spins_per_us from the fastest of five timed million-step spins.
inline void calibrate_spin() {
  const long it = 1'000'000;
  double best = 1e300;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    spin(it);
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    best = ns < best ? ns : best;
  }
  spins_per_us = static_cast<long>(double(it) / (best / 1e3));
}

inline bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

/// `--key value` and bare positionals.
struct Args {
  std::vector<std::string> pos;
  std::vector<std::pair<std::string, std::string>> kv;
  Args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) == 0 && i + 1 < argc) {
        kv.emplace_back(a.substr(2), argv[++i]);
      } else {
        pos.push_back(a);
      }
    }
  }
  [[nodiscard]] std::string get(const std::string& k, const std::string& def) const {
    for (auto& [key, v] : kv)
      if (key == k) return v;
    return def;
  }
  [[nodiscard]] long long num(const std::string& k, long long def) const {
    auto s = get(k, "");
    return s.empty() ? def : std::atoll(s.c_str());
  }
  [[nodiscard]] std::vector<long long> nums(const std::string& k,
                                            std::vector<long long> def) const {
    auto s = get(k, "");
    if (s.empty()) return def;
    std::vector<long long> out;
    size_t p = 0;
    while (p <= s.size()) {
      size_t q = s.find(',', p);
      if (q == std::string::npos) q = s.size();
      if (q > p) out.push_back(std::atoll(s.substr(p, q - p).c_str()));
      p = q + 1;
    }
    return out;
  }
};

}  // namespace lab

// stackful_common.hpp: what the stackful_* experiment programs share beyond
// lab.hpp (whose lab::emit prints their JSONL records and lab::rss_bytes
// reads their RSS): page-table size and mapping count from /proc, a child
// process with a shared result slot, an argument parser, and raising
// vm.max_map_count (said in the output; restored at exit).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "duet/duet.hpp"
#include "lab.hpp"

namespace sx {

/// A field of /proc/self/status in bytes (VmRSS, VmPTE, ...).
inline long long status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':') {
      return std::atoll(line.c_str() + len + 1) * 1024;
    }
  }
  return 0;
}
inline long long pte_bytes() {
  return status_bytes("VmPTE");
}
inline long long map_count() {
  std::ifstream in("/proc/self/maps");
  long long n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

/// --key value arguments.
struct Args {
  std::vector<std::string> v;
  Args(int argc, char** argv) : v(argv + 1, argv + argc) {}
  std::string get(const std::string& key, const std::string& dflt) const {
    for (std::size_t i = 0; i + 1 < v.size(); ++i) {
      if (v[i] == key) return v[i + 1];
    }
    return dflt;
  }
  bool has(const std::string& key) const {
    for (const auto& a : v) {
      if (a == key) return true;
    }
    return false;
  }
  std::vector<long long> list(const std::string& key, const std::string& dflt) const {
    std::vector<long long> out;
    std::stringstream ss(get(key, dflt));
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(std::atoll(item.c_str()));
    return out;
  }
};

/// A strategy by its name; any other name ends the program with the list
/// of names (a typo must not measure pooled stacks under another label).
inline duet::StackStrategy parse_strategy(const std::string& s) {
  if (s == "pooled") return duet::StackStrategy::pooled;
  if (s == "lazy") return duet::StackStrategy::lazy;
  if (s == "copy") return duet::StackStrategy::copy;
  if (s == "unguarded_unsafe") return duet::StackStrategy::unguarded_unsafe;
  std::fprintf(stderr, "unknown --strategy '%s' (pooled, lazy, copy, unguarded_unsafe, all)\n",
               s.c_str());
  std::exit(2);
}
inline const char* name(duet::StackStrategy s) {
  return duet::to_string(s).data();
}
/// --strategy: "all", one strategy's name, or a comma-separated list.
inline std::vector<duet::StackStrategy> strategies(const Args& a) {
  std::string s = a.get("--strategy", "all");
  if (s == "all") {
    return {duet::StackStrategy::pooled, duet::StackStrategy::lazy, duet::StackStrategy::copy,
            duet::StackStrategy::unguarded_unsafe};
  }
  std::vector<duet::StackStrategy> out;
  std::size_t from = 0;
  for (;;) {
    const std::size_t comma = s.find(',', from);
    out.push_back(parse_strategy(s.substr(from, comma - from)));
    if (comma == std::string::npos) return out;
    from = comma + 1;
  }
}

/// Shared memory for a child's numbers.
template <class T>
T* shared_slots(std::size_t n) {
  void* p = mmap(nullptr, sizeof(T) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return static_cast<T*>(p);
}

/// Runs `body` in a child; returns its wait status.
inline int in_child(const std::function<void()>& body) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    body();
    std::fflush(nullptr);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

/// Raises vm.max_map_count to at least `want` (root only); restores it at
/// exit. Says so on stdout. False when it is too low and cannot be raised.
inline bool ensure_map_count(long long want, bool allowed, const std::string& experiment) {
  static long long original = -1;
  long long cur = 0;
  {
    std::ifstream in("/proc/sys/vm/max_map_count");
    in >> cur;
  }
  if (cur >= want) return true;
  if (!allowed) return false;
  std::ofstream out("/proc/sys/vm/max_map_count");
  out << want;
  out.close();
  if (!out) return false;
  if (original < 0) {
    original = cur;
    std::atexit([] {
      std::ofstream o("/proc/sys/vm/max_map_count");
      o << original;
    });
  }
  lab::emit(experiment, "system", "vm_max_map_count_raised_to", static_cast<double>(want),
            "mappings", -1,
            "sysctl vm.max_map_count raised from " + std::to_string(cur) +
                " by this program (restored at exit)");
  return true;
}

inline duet::RuntimeConfig workers(unsigned n) {
  duet::RuntimeConfig c;
  c.workers = n;
  c.placement = duet::Placement::none;
  return c;
}

}  // namespace sx

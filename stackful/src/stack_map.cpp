// stack_map.cpp: mapping and unmapping stacks, and saying clearly why a
// mapping failed.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <string>

#include "duet/stackful/stack.hpp"
#include "overflow.hpp"
#include "stack_stats.hpp"

namespace duet::detail {
namespace {

std::string read_first_word(const char* path) {
  std::ifstream in(path);
  std::string v;
  in >> v;
  return v.empty() ? "unknown" : v;
}

std::size_t count_lines(const char* path) {
  std::ifstream in(path);
  std::size_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

/// Names the limit that most likely refused the mapping.
std::string diagnose_enomem(std::size_t bytes) {
  const std::string max_maps = read_first_word("/proc/sys/vm/max_map_count");
  const std::size_t maps = count_lines("/proc/self/maps");
  std::size_t limit = 0;
  try {
    limit = std::stoul(max_maps);
  } catch (...) {
  }
  // A guarded stack needs two new mappings; a few more are in flight
  // elsewhere (malloc arenas, thread stacks).
  if (limit != 0 && maps + 8 >= limit) {
    return "the process has " + std::to_string(maps) + " memory mappings and vm.max_map_count is " +
           max_maps +
           "; each guarded stack takes two (raise it: sysctl -w vm.max_map_count=N; or use "
           "StackStrategy::copy, which maps no stack per fiber)";
  }
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    std::ifstream statm("/proc/self/statm");
    std::size_t vm_pages = 0;
    statm >> vm_pages;
    const std::size_t vm = vm_pages * page_size();
    if (vm + bytes > as.rlim_cur) {
      return "the address space limit (RLIMIT_AS, ulimit -v) is " + std::to_string(as.rlim_cur) +
             " bytes and " + std::to_string(vm) +
             " are mapped (use smaller stacks, fewer live fibers, or raise the limit)";
    }
  }
  return "out of memory (" + std::to_string(maps) + " mappings, vm.max_map_count " + max_maps + ")";
}

[[noreturn]] void fail(const char* what, std::size_t bytes, int err) {
  std::string msg =
      std::string("duet: cannot ") + what + " a fiber stack of " + std::to_string(bytes) + " bytes";
  msg +=
      err == ENOMEM ? ": " + diagnose_enomem(bytes) : std::string(": errno ") + std::to_string(err);
  throw StackError(err, std::generic_category(), msg);
}

}  // namespace

std::size_t page_size() noexcept {
  static const auto p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

Stack stack_map(std::size_t usable, bool guard) {
  install_overflow_handler();
  const std::size_t pg = page_size();
  if (usable < pg) usable = pg;
  usable = (usable + pg - 1) / pg * pg;
  const std::size_t g = guard ? pg : 0;
  const std::size_t size = usable + g;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) fail("map", size, errno);
  if (g != 0 && mprotect(p, g, PROT_NONE) != 0) {
    const int e = errno;
    munmap(p, size);
    fail("protect the guard page of", size, e);
  }
  stack_counters().mapped.fetch_add(1, std::memory_order_relaxed);
  return Stack{static_cast<char*>(p), size, static_cast<std::uint32_t>(g), StackStrategy::pooled};
}

void stack_unmap(Stack s) noexcept {
  if (!s) return;
  munmap(s.base, s.size);
  stack_counters().unmapped.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace duet::detail

// stack_map.cpp: mapping and unmapping stacks, saying clearly why a mapping
// failed, and stopping short of vm.max_map_count.
//
// Slabs: the pools map stacks several at a time, one mmap for all of them
// and one mprotect per guard page (stack_map_slab), so that a burst of new
// fibers pays one mapping system call per slab instead of three per fiber
// (mmap, mprotect, munmap). Each slot can still
// be unmapped on its own later (the pool does so past its cap).
//
// The mapping reserve: fiber stacks may use the process's kernel mappings
// (VMAs) only up to vm.max_map_count minus a reserve, max(1024, limit / 32)
// (2047 at the default 65530). Past that, acquiring a stack throws the
// StackError that names the limit while the rest of the process can still
// map: malloc's arenas and large blocks, thread stacks, and the sanitizer
// runtimes (ASan's allocator died with "Failed to mmap" when the stacks took
// the last mapping). duet counts the VMAs its stacks hold itself (a guarded
// stack holds two: the guard splits it) and reads /proc/self/maps for the
// others once, then again only when the count nears the budget.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <limits>
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

/// kernel mappings held by duet's stacks, and what the rest of the process
/// held when last counted. Relaxed: the budget check is a heuristic over
/// counts that other threads change concurrently; no data is published
/// through them.
struct MapBudget {
  std::atomic<std::size_t> held{0};
  std::atomic<std::size_t> others{0};
  std::atomic<bool> counted{false};
};
MapBudget& map_budget() noexcept {
  static MapBudget b;
  return b;
}

std::size_t max_map_count() noexcept {
  static const std::size_t limit = [] {
    try {
      return static_cast<std::size_t>(std::stoul(read_first_word("/proc/sys/vm/max_map_count")));
    } catch (...) {
      return std::size_t{0};  // unknown: no budget
    }
  }();
  return limit;
}

std::size_t map_reserve(std::size_t limit) noexcept {
  return std::max<std::size_t>(1024, limit / 32);
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

namespace {

/// Throws the vm.max_map_count StackError when `vmas` more mappings would
/// eat into the reserve.
void check_map_budget(std::size_t vmas, std::size_t bytes) {
  const std::size_t limit = max_map_count();
  if (limit == 0) return;
  MapBudget& b = map_budget();
  const std::size_t budget = limit > map_reserve(limit) ? limit - map_reserve(limit) : 0;
  const std::size_t held = b.held.load(std::memory_order_relaxed);
  auto fits = [&] { return held + vmas + b.others.load(std::memory_order_relaxed) <= budget; };
  if (b.counted.load(std::memory_order_relaxed) && fits()) return;
  // First use, or near the budget: count what the rest of the process holds.
  const std::size_t all = count_lines("/proc/self/maps");
  b.others.store(all > held ? all - held : 0, std::memory_order_relaxed);
  b.counted.store(true, std::memory_order_relaxed);
  if (fits()) return;
  throw StackError(ENOMEM, std::generic_category(),
                   "duet: cannot map a fiber stack of " + std::to_string(bytes) +
                       " bytes: the process has " + std::to_string(all) +
                       " memory mappings and vm.max_map_count is " + std::to_string(limit) +
                       "; duet leaves " + std::to_string(map_reserve(limit)) +
                       " for the rest of the process, and each guarded stack takes two (raise "
                       "it: sysctl -w vm.max_map_count=N; or use StackStrategy::copy, which maps "
                       "no stack per fiber)");
}

}  // namespace

std::size_t stack_map_slab(std::size_t usable, bool guard, Stack* out, std::size_t count) {
  // Once per process here; each thread that enters a fiber checks again
  // (ensure_alt_stack), in case another library replaced the handler since.
  static std::atomic<bool> handler_installed{false};
  // Relaxed: installing twice is harmless (the installer takes a lock).
  if (!handler_installed.exchange(true, std::memory_order_relaxed)) install_overflow_handler();
  const std::size_t pg = page_size();
  if (usable < pg) usable = pg;
  usable = (usable + pg - 1) / pg * pg;
  const std::size_t g = guard ? pg : 0;
  const std::size_t slot = usable + g;
  // A Stack records its size in 32 bits: every caller checks max_fiber_stack
  // (1 GiB) first, so this only catches a new caller that does not.
  if (slot > std::numeric_limits<std::uint32_t>::max()) fail("map", slot, EOVERFLOW);
  // A guarded slot is two mappings (its guard splits the slab); an
  // unguarded slab is one, counted as one per slot (a slot unmapped from
  // its middle later splits it).
  const std::size_t vmas = guard ? 2 : 1;
  if (count == 0) count = 1;
  try {
    check_map_budget(vmas * count, slot * count);
  } catch (const StackError&) {
    if (count == 1) throw;
    count = 1;  // near the budget: one stack, or the error
    check_map_budget(vmas, slot);
  }
  auto map = [](std::size_t bytes) {
    return mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  };
  void* p = map(slot * count);
  if (p == MAP_FAILED && count > 1) {
    count = 1;  // near RLIMIT_AS or out of memory: one stack, or the error
    p = map(slot);
  }
  if (p == MAP_FAILED) fail("map", slot, errno);
  auto* base = static_cast<char*>(p);
  std::size_t made = 0;
  for (; made < count; ++made) {
    char* at = base + made * slot;
    if (g != 0 && mprotect(at, g, PROT_NONE) != 0) break;
    out[made] =
        Stack{at, static_cast<std::uint32_t>(slot), guard_log2_of(g), StackStrategy::pooled};
  }
  if (made < count) {
    const int e = errno;
    munmap(base + made * slot, (count - made) * slot);  // the slots not made
    if (made == 0) fail("protect the guard page of", slot, e);
  }
  stack_counters().mapped.fetch_add(made, std::memory_order_relaxed);
  stack_counters().slabs.fetch_add(1, std::memory_order_relaxed);
  map_budget().held.fetch_add(vmas * made, std::memory_order_relaxed);
  return made;
}

Stack stack_map(std::size_t usable, bool guard) {
  Stack s;
  stack_map_slab(usable, guard, &s, 1);
  return s;
}

void stack_unmap(Stack s) noexcept {
  if (!s) return;
  munmap(s.base, s.size);
  map_budget().held.fetch_sub(s.guard() != 0 ? 2 : 1, std::memory_order_relaxed);
  stack_counters().unmapped.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace duet::detail

// stack_pool.cpp: per-thread stack caches over a global pool.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "duet/stackful/stack.hpp"

namespace duet::detail {
namespace {

// A thread keeps up to this many stacks per size; more go to the global
// pool, which keeps up to `global_cap_bytes` before unmapping. Both bound the
// memory that drifts between threads while letting a spawn burst reuse.
constexpr std::size_t thread_cap = 64;
constexpr std::size_t global_cap_bytes = std::size_t{256} << 20;

std::size_t page_size() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

std::atomic<std::size_t> g_mapped{0}, g_unmapped{0};

struct Bucket {
  std::size_t size;
  std::size_t guard;
  std::vector<Stack> stacks;
};

struct GlobalPool {
  std::mutex mu;
  std::vector<Bucket> buckets;
  std::size_t bytes = 0;
  ~GlobalPool() {
    for (auto& b : buckets) {
      for (auto& s : b.stacks) munmap(s.base, s.size);
    }
  }
};
GlobalPool& global() {
  static GlobalPool g;
  return g;
}

Bucket& bucket_for(std::vector<Bucket>& v, std::size_t size, std::size_t guard) {
  for (auto& b : v) {
    if (b.size == size && b.guard == guard) return b;
  }
  v.push_back(Bucket{size, guard, {}});
  return v.back();
}

void unmap(const Stack& s) noexcept {
  munmap(s.base, s.size);
  g_unmapped.fetch_add(1, std::memory_order_relaxed);
}

void release_to_global(const Stack& s) noexcept {
  GlobalPool& g = global();
  std::lock_guard lk(g.mu);
  if (g.bytes + s.size > global_cap_bytes) {
    unmap(s);
    return;
  }
  bucket_for(g.buckets, s.size, s.guard).stacks.push_back(s);
  g.bytes += s.size;
}

struct ThreadCache {
  std::vector<Bucket> buckets;
  ~ThreadCache() {
    for (auto& b : buckets) {
      for (auto& s : b.stacks) release_to_global(s);
    }
  }
};
thread_local ThreadCache tl_cache;

std::string max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  std::string v;
  in >> v;
  return v.empty() ? "unknown" : v;
}

[[noreturn]] void fail(const char* what, std::size_t bytes, int err) {
  std::string msg = std::string("duet: cannot ") + what + " a fiber stack of " +
                    std::to_string(bytes) + " bytes";
  if (err == ENOMEM) {
    msg += ": out of memory, address space (RLIMIT_AS) or memory mappings; each guarded stack "
           "takes two mappings and vm.max_map_count is " +
           max_map_count() + " (raise it with sysctl -w vm.max_map_count=N, or use smaller "
           "or unguarded stacks)";
  }
  throw StackError(err, std::generic_category(), msg);
}

Stack map_stack(std::size_t size, std::size_t guard) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) fail("map", size, errno);
  if (guard != 0 && mprotect(p, guard, PROT_NONE) != 0) {
    int e = errno;
    munmap(p, size);
    fail("protect the guard page of", size, e);
  }
  g_mapped.fetch_add(1, std::memory_order_relaxed);
  return Stack{static_cast<char*>(p), size, guard};
}

}  // namespace

Stack stack_acquire(std::size_t usable, bool guard) {
  const std::size_t pg = page_size();
  if (usable < pg) usable = pg;
  usable = (usable + pg - 1) / pg * pg;
  const std::size_t g = guard ? pg : 0;
  const std::size_t size = usable + g;
  Bucket& mine = bucket_for(tl_cache.buckets, size, g);
  if (!mine.stacks.empty()) {
    Stack s = mine.stacks.back();
    mine.stacks.pop_back();
    return s;
  }
  {
    GlobalPool& gp = global();
    std::lock_guard lk(gp.mu);
    Bucket& b = bucket_for(gp.buckets, size, g);
    if (!b.stacks.empty()) {
      Stack s = b.stacks.back();
      b.stacks.pop_back();
      gp.bytes -= s.size;
      return s;
    }
  }
  return map_stack(size, g);
}

void stack_release(Stack s) noexcept {
  if (!s) return;
  Bucket& mine = bucket_for(tl_cache.buckets, s.size, s.guard);
  if (mine.stacks.size() < thread_cap) {
    mine.stacks.push_back(s);
    return;
  }
  release_to_global(s);
}

StackPoolStats stack_pool_stats() noexcept {
  StackPoolStats st;
  st.mapped = g_mapped.load(std::memory_order_relaxed);
  st.unmapped = g_unmapped.load(std::memory_order_relaxed);
  GlobalPool& g = global();
  std::lock_guard lk(g.mu);
  st.pooled_bytes = g.bytes;
  return st;
}

}  // namespace duet::detail

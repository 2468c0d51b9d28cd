// op_memory.cpp: the memory of IoOps, a second allocator on top of common's
// block cache.
//
// Blocks up to 4 KiB come from the block cache in power-of-two sizes
// (op_block_bytes): an op's size is its buffer's, which a server's traffic
// spreads over every size, and each block class a thread uses costs a
// 256 KiB slab.
//
// Why it exists: an IoOp carries its operation's data buffer behind it (the
// kernel never touches a user buffer, docs/io.md), so a 16 KiB read is a
// 16 KiB block. The block cache (duet/detail/block_cache.hpp) serves blocks
// up to 4 KiB and sends larger ones to the global heap, which would mean a
// malloc and a free per large read or write, far dearer than a pop from a
// list here (docs/performance-log.md, "Per-thread lists for large I/O
// blocks"). Blocks over 4 KiB therefore get
// per-thread free lists here, in power-of-two classes up to 64 KiB, 32
// blocks each (at most ~3.5 MiB cached per thread), freed when the thread
// exits. A block freed on another thread joins that thread's list (the
// class is a function of the size alone). Above 64 KiB: the heap. (The
// block cache's own classes could grow to cover these; until they do, this
// is the one other allocator in drivers/.)
#include "io/op_memory.hpp"

#include <new>
#include <vector>

#include "duet/detail/block_cache.hpp"

namespace duet::io::detail {
namespace {

constexpr std::size_t kSmall = 4096, kMinLarge = 8192, kMaxLarge = 65536, kPerClass = 32;
constexpr std::align_val_t kAlign{duet::detail::block_align};

/// The calling thread's free lists of large blocks: 8, 16, 32, 64 KiB.
struct LargeCache {
  std::vector<void*> lists[4];
  ~LargeCache() {
    for (auto& l : lists) {
      for (void* p : l) ::operator delete(p, kAlign);
    }
  }
};
thread_local LargeCache tl_large;

std::size_t large_class(std::size_t size) noexcept {
  std::size_t c = 0;
  for (std::size_t s = kMinLarge; s < size; s *= 2) ++c;
  return c;
}

}  // namespace

void* op_alloc(std::size_t size) {
  if (size <= kSmall) return duet::detail::block_alloc(op_block_bytes(size));
  if (size > kMaxLarge) return ::operator new(size, kAlign);
  auto& l = tl_large.lists[large_class(size)];
  if (l.empty()) return ::operator new(kMinLarge << large_class(size), kAlign);
  void* p = l.back();
  l.pop_back();
  return p;
}

void op_free(void* p, std::size_t size) noexcept {
  if (size <= kSmall) return duet::detail::block_free(p, op_block_bytes(size));
  if (size <= kMaxLarge) {
    auto& l = tl_large.lists[large_class(size)];
    if (l.size() < kPerClass) {
      try {
        l.push_back(p);
        return;
      } catch (...) {
        // No room for the list entry: the block goes back to the heap.
      }
    }
  }
  ::operator delete(p, kAlign);
}

}  // namespace duet::io::detail

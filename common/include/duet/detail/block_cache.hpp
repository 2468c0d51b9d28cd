// duet/detail/block_cache.hpp: the recycling allocator behind task memory.
//
// Coroutine frames, task headers and poll tasks come from per-thread free
// lists in 64-byte size classes (up to 4 KiB; larger blocks go to the global
// heap), carved from pre-faulted 256 KiB slabs. Spawn in a steady state
// calls no malloc (measured by the allocation counters in experiments/). A
// block freed on another thread goes to that thread's lists; each list is
// capped, and its overflow moves as one chain to a global depot that every
// thread refills from, a chain at a time (O(1) under the depot's lock).
// Memory is kept for reuse, not returned to the OS.
//
// Blocks are 64-byte aligned (task headers are one cache line).
#pragma once

#include <cstddef>
#include <cstdint>

namespace duet::detail {

inline constexpr std::size_t block_align = 64;

/// Allocates `size` bytes, 64-byte aligned. Throws std::bad_alloc.
[[nodiscard]] void* block_alloc(std::size_t size);
/// Frees a block from block_alloc of the same `size`.
void block_free(void* p, std::size_t size) noexcept;

struct BlockCacheStats {
  std::uint64_t hits = 0;    // served from a free list
  std::uint64_t misses = 0;  // went to the heap
};
/// The calling thread's counters.
BlockCacheStats block_cache_stats() noexcept;
/// Moves the calling thread's cached blocks to the global depot.
void block_cache_trim() noexcept;

}  // namespace duet::detail

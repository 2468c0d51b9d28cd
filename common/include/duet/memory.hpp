// duet/memory.hpp: what duet's caches hold (Runtime::memory_stats()).
//
// Example (fiber):
//   duet::MemoryStats m = rt.memory_stats();
//   std::printf("blocks %zu B carved, %zu B free in the depot; stacks %zu B pooled\n",
//               m.blocks.carved_bytes, m.blocks.depot_bytes, m.stacks.pooled_bytes);
//
// Three places hold memory for reuse rather than giving it back at once:
//  - the block cache (duet/detail/block_cache.hpp), process-wide: task
//    blocks (coroutine frames, poll futures, fibers' task blocks) and I/O
//    operations with their buffers. It maps 2 MiB chunks, cuts them into
//    256 KiB slabs, each slab into blocks of one size class; free blocks go
//    to the freeing thread's lists (at most thread_cap_bytes per class) and
//    past that to a shared depot. Nothing is returned to the OS.
//  - the fiber stack pool (duet/stackful/stack.hpp), process-wide, all zero
//    until a fiber is spawned (or when the stackful module is not linked).
//  - each worker's I/O driver: io_uring's rings and its provided-buffer ring
//    (RuntimeConfig::io_recv_buffers x io_recv_buffer_size; the kernel takes
//    the buffers in ring order, so under steady traffic every buffer's pages
//    end up touched).
// The knobs that bound them: RuntimeConfig::io_recv_buffers and
// io_recv_buffer_size, duet::detail::StackTuning (stack pool), and the
// block cache's per-thread cap (set_block_cache_thread_cap, below).
// docs/observability.md, "Memory".
// Every figure is read while the runtime runs: a snapshot, not a cut.
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace duet {

/// The block cache, process-wide.
struct BlockMemory {
  std::size_t chunk_bytes = 0;   // 2 MiB chunks mapped so far
  std::size_t huge_chunks = 0;   // of them, marked MADV_HUGEPAGE (resident whole once touched)
  std::size_t carved_bytes = 0;  // slabs cut into blocks (every block written once, so resident)
  std::size_t depot_bytes = 0;   // free blocks in the shared depot now
  /// The most one thread's free lists keep of one size class; past it half
  /// goes to the depot. carved - depot is what threads hold: blocks in use
  /// and blocks in their lists.
  std::size_t thread_cap_bytes = 0;
  struct Class {
    std::size_t block_bytes;  // the class's block size (a multiple of 64, up to 4 KiB)
    std::size_t slabs;        // 256 KiB slabs carved for it
  };
  std::vector<Class> classes;  // the classes that have slabs, smallest first
};

/// The fiber stack pool, process-wide.
struct StackMemory {
  std::size_t mapped_stacks = 0;   // stacks mapped so far, less those unmapped
  std::size_t in_use = 0;          // stacks held by fibers now
  std::size_t pooled_bytes = 0;    // address space kept in the global pool for reuse
  std::size_t resident_bytes = 0;  // of that, the hot stacks' (pages kept)
};

/// One worker's I/O driver.
struct DriverMemory {
  std::size_t ring_bytes = 0;         // io_uring: the SQ and CQ rings and the SQE array, mapped
  std::size_t buffer_ring_bytes = 0;  // io_uring: the provided buffers' mapping, ring included
  std::uint32_t buffers = 0;          // provided buffers (0: multishot recv off, or epoll)
  std::uint32_t buffer_size = 0;      // bytes each
  /// Provided buffers out of the ring now: filled by the kernel and not yet
  /// read, or read and not yet given back. With fewer than 8 left in the
  /// ring no new multishot recv is armed: reads fall back to one-shot recv
  /// (RuntimeConfig::io_recv_buffers).
  std::uint32_t buffers_in_use = 0;
};

struct MemoryStats {
  BlockMemory blocks;
  StackMemory stacks;
  std::vector<DriverMemory> drivers;  // one per worker
};

/// The block cache's per-thread cap: the most bytes of free blocks of one
/// size class a thread keeps for reuse (at least 8 blocks), past which half
/// of them go to the shared depot; BlockMemory::thread_cap_bytes reads it.
/// 1 MiB by default. Each thread takes it when its cache starts (its first
/// allocation or free of a block), so set it before building the runtime:
/// threads already started keep theirs. A lower cap moves blocks to the
/// depot sooner (a lock per move), where any thread reuses them; it does
/// not return memory to the OS.
DUET_API void set_block_cache_thread_cap(std::size_t bytes) noexcept;

}  // namespace duet

// duet/detail/block_cache.hpp: the recycling allocator behind task memory.
//
// Coroutine frames, task headers and poll tasks come from per-thread free
// lists in size classes (16-byte steps up to 256 B, then 64-byte steps up to
// 4 KiB; larger blocks go to the global heap), carved from slabs of
// huge-page chunks. Spawn in a steady state
// calls no malloc. A
// block freed on another thread goes to that thread's lists; each list is
// capped, and its overflow moves as one chain to a global depot that every
// thread refills from, a chain at a time (O(1) under the depot's lock).
// Memory is kept for reuse, not returned to the OS.
//
// The hit of either direction is inline (a pop or a push on the calling
// thread's list: no call, no lock, no locked instruction); everything else
// (a refill, a give-back, a large block, a first use on a thread) is out of
// line in block_cache.cpp (docs/performance-log.md, "Hot-path trims of spawn+join").
// Whether blocks come from the lists at all is the library's decision, not
// the includer's: under AddressSanitizer the library leaves every list
// empty and every cap zero, so each call reaches the slow half, which uses
// the heap (use-after-free and leaks stay visible to ASan), even from code
// built without it.
//
// A block's alignment follows from its size: a size that is a multiple of
// 64 gets a 64-aligned block (task headers are one cache line, and a type
// aligned to one has a size that is a multiple of it), any other size a
// block aligned to 16 at least (blocks::block_bytes says why).
#pragma once

#include "duet/export.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

#include "duet/detail/check_mode.hpp"
#include "duet/detail/thread_local.hpp"

namespace duet {
struct BlockMemory;  // duet/memory.hpp
}

// Code built with a sanitizer calls the slow halves for everything (they
// serve the lists too): GCC 12's UBSan null check misfires on the inline
// path's thread-local (it reported a null ThreadCache in the ASan+UBSan
// build), and a sanitizer build wants the library's decision anyway.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DUET_BLOCKS_INLINE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DUET_BLOCKS_INLINE 0
#endif
#endif
#ifndef DUET_BLOCKS_INLINE
#define DUET_BLOCKS_INLINE 1
#endif

namespace duet::detail {

inline constexpr std::size_t block_align = 64;

struct BlockCacheStats {
  std::uint64_t hits = 0;    // served from a free list
  std::uint64_t misses = 0;  // went to the heap
};

namespace blocks {

// The classes: 16-byte steps up to 256 B (where frames and small tasks
// live: a 136-byte block pays 144, not 192), then 64-byte steps up to 4 KiB.
inline constexpr std::size_t fine_step = 16;
inline constexpr std::size_t fine_limit = 256;
inline constexpr std::size_t coarse_step = 64;
inline constexpr std::size_t largest_block = 4096;
inline constexpr std::size_t num_fine = fine_limit / fine_step;  // 16 B .. 256 B
inline constexpr std::size_t num_classes =
    num_fine + (largest_block - fine_limit) / coarse_step;  // then 320 B .. 4 KiB

/// The class of a block of `size` bytes; num_classes or more: too large for
/// any (the global heap). A compile-time constant for a constant size.
[[nodiscard]] constexpr std::size_t class_of(std::size_t size) noexcept {
  if (size <= fine_limit) return size == 0 ? 0 : (size - 1) / fine_step;
  return num_fine + (size - fine_limit - 1) / coarse_step;
}

/// The bytes of a block of class `c`. Blocks of a class are carved one after
/// the other from a 64-aligned slab, so a block is aligned to the largest
/// power of two that divides its class's bytes, up to 64: a class whose
/// bytes are a multiple of 64 is 64-aligned, every class 16-aligned. A size
/// that is a multiple of 64 (or 32, or 16) falls in a class of exactly that
/// size, so block_alloc(sizeof(T)) always suits T. The smallest class is 32
/// bytes: a free block holds a FreeBlock.
[[nodiscard]] constexpr std::size_t block_bytes(std::size_t c) noexcept {
  if (c < num_fine) return c == 0 ? 2 * fine_step : (c + 1) * fine_step;
  return fine_limit + (c - num_fine + 1) * coarse_step;
}
static_assert(class_of(largest_block) == num_classes - 1 &&
              block_bytes(num_classes - 1) == largest_block);
static_assert(block_bytes(class_of(136)) == 144 && block_bytes(class_of(192)) == 192 &&
              block_bytes(class_of(257)) == 320);

struct FreeBlock {
  FreeBlock* next;        // the next block of its chain
  FreeBlock* next_chain;  // in the depot, on a chain's first block: the chain below
  std::uint32_t len;      // in the depot, on a chain's first block: its length
};

/// A thread's lists. Plain data, constant-initialised (all empty, every cap
/// zero): an access is one %fs-relative load with no initialisation guard.
/// The first free on a thread finds cap 0 and takes the slow path, which
/// sets the caps (or, under ASan, leaves them zero).
struct ThreadCache {
  std::array<FreeBlock*, num_classes> head;
  std::array<std::uint32_t, num_classes> count;
  std::array<std::uint32_t, num_classes> cap;
  BlockCacheStats stats;
  bool reaper_armed;
};
DUET_API extern constinit DUET_TLS ThreadCache tl_cache asm("duet_tl_block_cache");

/// The slow halves (block_cache.cpp).
[[nodiscard]] DUET_API void* alloc_slow(std::size_t size);
DUET_API void free_slow(void* p, std::size_t size) noexcept;

/// The calling thread's lists, by a call the compiler cannot see into.
[[gnu::noinline]] DUET_API ThreadCache& this_thread_cache_opaque() noexcept;
/// Aborts, naming the mismatch: an inline path used another thread's lists.
[[noreturn]] DUET_API void foreign_cache(const ThreadCache* used) noexcept;

/// The calling thread's lists, the address computed afresh at each call
/// (duet/detail/thread_local.hpp: a task may have moved to another thread since the
/// last one). Checked builds that compute it inline (the initial-exec asm)
/// compare it with the opaque call's answer; elsewhere it is that answer.
[[gnu::always_inline]] inline ThreadCache& this_thread_cache() noexcept {
#if DUET_DETAIL_TLS_INLINE
  ThreadCache* k;
  asm volatile(DUET_DETAIL_TLS_ADDRESS("duet_tl_block_cache") : "=r"(k));
#else
  ThreadCache* k = &this_thread_cache_opaque();
#endif
#if DUET_CHECK_TRANSITIONS && DUET_DETAIL_TLS_INLINE
  if (k != &this_thread_cache_opaque()) [[unlikely]]
    foreign_cache(k);
#endif
  return *k;
}

}  // namespace blocks

/// Allocates `size` bytes: 64-byte aligned when `size` is a multiple of 64,
/// else 16-byte aligned at least (blocks::block_bytes). Throws std::bad_alloc.
[[nodiscard, gnu::always_inline]] inline void* block_alloc(std::size_t size) {
  const std::size_t c = blocks::class_of(size);
  if (DUET_BLOCKS_INLINE && c < blocks::num_classes) {
    blocks::ThreadCache& k = blocks::this_thread_cache();
    if (blocks::FreeBlock* b = k.head[c]; b != nullptr) {
      k.head[c] = b->next;
      --k.count[c];
      ++k.stats.hits;
      return b;
    }
  }
  return blocks::alloc_slow(size);
}

/// Frees a block from block_alloc of the same `size`.
[[gnu::always_inline]] inline void block_free(void* p, std::size_t size) noexcept {
  const std::size_t c = blocks::class_of(size);
  if (DUET_BLOCKS_INLINE && p != nullptr && c < blocks::num_classes) {
    blocks::ThreadCache& k = blocks::this_thread_cache();
    if (k.count[c] < k.cap[c]) {
      auto* b = static_cast<blocks::FreeBlock*>(p);
      b->next = k.head[c];
      k.head[c] = b;
      ++k.count[c];
      return;
    }
  }
  blocks::free_slow(p, size);
}

/// The calling thread's counters.
DUET_API BlockCacheStats block_cache_stats() noexcept;
/// What the cache holds, process-wide (Runtime::memory_stats(), duet/memory.hpp).
/// Under AddressSanitizer every block is a heap allocation: all zero.
DUET_API BlockMemory block_memory();
/// Moves the calling thread's cached blocks to the global depot.
DUET_API void block_cache_trim() noexcept;

}  // namespace duet::detail

// duet/stackful/stack.hpp: where fiber stacks come from.
//
// Four strategies (duet::StackStrategy, chosen per spawn or as the runtime
// default; docs/stackful.md compares them, docs/performance-log.md has
// their measurements):
//
//   pooled            a fixed-size mapping with a guard page, reused through
//                     a per-thread cache over a global pool (capped). The
//                     default: a spawn in steady state makes no syscall.
//                     Stacks pooled past `pool_resident_bytes` give their
//                     pages back in batches (trim_stack_pool: at once).
//   lazy              a large reservation (default 8 MiB, at most 1 GiB),
//                     MAP_NORESERVE: pages are committed when touched. When a
//                     stack that went deeper than `lazy_keep_bytes` is
//                     released, the pages below that mark are given back
//                     (MADV_DONTNEED), so deep recursion works and the pool
//                     does not keep a deep fiber's pages.
//   copy              no stack of its own: the fiber runs on its worker's
//                     shared stack and its used bytes are copied out when it
//                     suspends (stackful/src/copy_stack.hpp).
//   unguarded_unsafe  pooled without the guard page. An overflow silently
//                     corrupts the memory below: for measurements only.
//
// A mapped stack, top down (x86-64 stacks grow down):
//
//   top  ->  +-----------------------------+
//            | frames, growing down ...    |  (the task block is a heap
//            |                             |   block: it outlives the stack)
//            |                             |  MAP_NORESERVE: untouched pages
//            |                             |  cost no memory
//   bottom-> +-----------------------------+
//            | guard page (PROT_NONE)      |  a touch here is reported and
//   base  -> +-----------------------------+  aborts (stackful/src/overflow.cpp)
//
// Each guarded stack is two kernel mappings (the guard splits it), which
// count against vm.max_map_count (65530 by default): past it, acquiring a
// stack throws a StackError that names the limit and how to raise it.
// Stacks are mapped in slabs (stack_map_slab: one mmap for up to 64, one
// mprotect per guard); a fiber holds one from its first run to its finish.
#pragma once

#include "duet/export.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "duet/config.hpp"

namespace duet {

/// A fiber stack could not be mapped (out of memory, address space
/// (RLIMIT_AS), or vm.max_map_count). The message says which and what to
/// raise. A fiber takes its stack at its first run: one that cannot get one
/// ends with this error, and its join rethrows it.
class StackError : public std::system_error {
 public:
  using std::system_error::system_error;
};

/// The largest stack a fiber may ask for: Go's maximum goroutine stack.
inline constexpr std::size_t max_fiber_stack = std::size_t{1} << 30;

/// Process-wide knobs of the stack allocators. They apply to stacks acquired
/// after the change; set them before spawning.
struct StackTuning {
  /// Stacks of one size a thread keeps for reuse before the global pool
  /// gets them. 64: a spawn burst on one worker reuses without a lock.
  std::size_t thread_cache_stacks = 64;
  /// Bytes the global pool may hold (counted as the most each pooled stack
  /// can have resident: its usable size, or `lazy_keep_bytes` for a trimmed
  /// lazy stack); past it, released stacks are unmapped. 2 GiB: 32,768
  /// default stacks, about 256 MB really resident (a pooled stack keeps the
  /// ~2 pages it touched). Smaller caps made every burst of more fibers than
  /// the cap pay mmap + mprotect + munmap + first-touch faults again
  /// (docs/performance-log.md, "The stack pool's cap").
  std::size_t pool_cap_bytes = std::size_t{2} << 30;
  /// Of those, the bytes (counted the same way) whose stacks keep their
  /// pages: reusing one costs no page fault. Stacks released past this mark
  /// give their pages back to the kernel in batches of 256, one
  /// MADV_DONTNEED per run of adjacent stacks, on the release path of the
  /// fiber that completes a batch (never on the spawn path); reusing such a
  /// stack faults its pages in again. 256 MiB: 4,096 default stacks, about
  /// 16 MiB really resident, so bursts of a few thousand fibers stay hot.
  /// Threads' caches (`thread_cache_stacks` each) always stay hot.
  std::size_t pool_resident_bytes = std::size_t{256} << 20;
  /// Lazy stacks: the high-water mark. A released stack that was touched
  /// below it gives the pages below back to the kernel.
  std::size_t lazy_keep_bytes = std::size_t{64} << 10;
  /// Lazy stacks: the reservation when FiberConfig::stack_size is 0.
  std::size_t lazy_reserve_bytes = std::size_t{8} << 20;
  /// Copy fibers: the size of each worker's shared stack (lazily committed,
  /// guarded). The deepest copy fiber must fit in it.
  std::size_t shared_stack_bytes = std::size_t{1} << 20;
};
[[nodiscard]] DUET_API StackTuning stack_tuning() noexcept;

/// Gives back now the pages of every stack the global pool holds past
/// `pool_resident_bytes` (also those waiting for a batch to fill), e.g.
/// after a burst, or after lowering the mark. Returns how many stacks gave
/// their pages back. Stacks in threads' caches and in use are not touched.
DUET_API std::size_t trim_stack_pool() noexcept;
/// Throws std::invalid_argument for a value out of range.
DUET_API void set_stack_tuning(const StackTuning& t);

namespace detail {

/// A stack: 16 bytes, so that it travels in two registers (returned by
/// stack_acquire*, passed to stack_recycle) instead of through memory. A
/// larger one is returned through the stack and copied into the fiber in
/// pieces of other widths, and the loads that read it back miss store-to-
/// load forwarding and stall (docs/performance-log.md, "Stalls that
/// instruction counts do not show").
struct Stack {
  char* base = nullptr;         // lowest address of the mapping
  std::uint32_t size = 0;       // whole mapping, guard included (max_fiber_stack + a page fits)
  std::uint8_t guard_log2 = 0;  // the guard at the low end is 2^guard_log2 bytes (a page); 0: none
  StackStrategy strategy = StackStrategy::pooled;
  // No tail padding: GCC copies a class with tail padding by its data bytes
  // alone (14 here), as a store pair and an overlapping load that again
  // misses forwarding; with the padding named, a copy is two 8-byte moves.
  std::uint16_t unused = 0;
  [[nodiscard]] std::size_t guard() const noexcept {
    return guard_log2 == 0 ? 0 : std::size_t{1} << guard_log2;
  }
  [[nodiscard]] char* top() const noexcept { return base + size; }
  [[nodiscard]] char* bottom() const noexcept { return base + guard(); }
  [[nodiscard]] std::size_t usable() const noexcept { return size - guard(); }
  explicit operator bool() const noexcept { return base != nullptr; }
};
static_assert(sizeof(void*) != 8 || sizeof(Stack) == 16, "a Stack travels in two registers");
/// guard_log2 for a guard of `bytes` (0 or a power of two).
[[nodiscard]] constexpr std::uint8_t guard_log2_of(std::size_t bytes) noexcept {
  return bytes == 0 ? 0 : static_cast<std::uint8_t>(std::bit_width(bytes) - 1);
}

/// A stack of the strategy (pooled, lazy or unguarded_unsafe) with at least
/// `usable` bytes (rounded up to pages), from the calling thread's cache,
/// the global pool, or a new mapping. Throws StackError.
DUET_API Stack stack_acquire(StackStrategy strategy, std::size_t usable);
/// stack_acquire from the calling thread's cache alone: no lock, no system
/// call, little stack; an empty Stack when the cache has none. For the
/// direct hand-off, which runs on a fiber's stack.
DUET_API Stack stack_acquire_cached(StackStrategy strategy, std::size_t usable) noexcept;
/// Returns a stack to the pools (or unmaps it when they are full). A lazy
/// stack used past the high-water mark gives back its deep pages first.
DUET_API void stack_release(Stack s) noexcept;
/// stack_release in two steps, for a fiber that finishes by switching off
/// its stack: stack_count_release() counts it given back (stack_pool_stats
/// ().in_use) before the fiber's completion is published, and
/// stack_recycle(s) returns it, on the same thread, once nothing runs on it.
DUET_API void stack_count_release() noexcept;
DUET_API void stack_recycle(Stack s) noexcept;
/// stack_recycle for a stack not wanted again soon (its fiber ended after a
/// long idle: release_stack_cold): past the thread's cache, into the global
/// pool's next batch whose pages go back to the kernel (pending, then
/// cold), never among the hot stacks. It may take a lock, sort and madvise:
/// the worker's stack calls it, never a fiber's.
DUET_API void stack_recycle_cold(Stack s) noexcept;
/// Whether stack_recycle(s) would be cheap on this thread now: a push into
/// its cache with room and capacity (no lock, no allocation, no system call
/// past a lazy stack's trim). When it would not (the cache is full: half of
/// it goes to the global pool, which may sort and madvise a batch), a
/// finishing fiber does not hand off: that work then runs on the worker's
/// own stack, not on the small stack of the fiber it would hand over to.
DUET_API bool stack_recycles_cheaply(const Stack& s) noexcept;
/// Maps a guarded stack outside the pools (the copy strategy's shared
/// stacks). Throws StackError.
DUET_API Stack stack_map(std::size_t usable, bool guard);
/// Maps up to `count` stacks of `usable` bytes in one mapping (a slab of
/// slots, each with its guard page when `guard`) into out[0..n); returns n,
/// which is fewer than `count` only near the vm.max_map_count budget or
/// when a guard page could not be protected. Throws StackError when not even
/// one can be made.
DUET_API std::size_t stack_map_slab(std::size_t usable, bool guard, Stack* out, std::size_t count);
DUET_API void stack_unmap(Stack s) noexcept;
/// The system page size.
DUET_API std::size_t page_size() noexcept;

struct StackPoolStats {
  std::size_t mapped = 0;          // stacks mapped so far (process-wide)
  std::size_t slabs = 0;           // mmap calls that made them
  std::size_t unmapped = 0;        // stacks unmapped so far
  std::size_t trimmed = 0;         // lazy stacks whose deep pages were given back
  std::size_t pooled_bytes = 0;    // bytes charged to the global pool now
  std::size_t resident_bytes = 0;  // of those, the hot stacks' (pages kept)
  std::size_t advised = 0;         // pooled stacks whose pages went back so far
  std::size_t advise_calls = 0;    // the madvise calls that did it
  std::size_t in_use = 0;          // stacks held by fibers now (pooled, lazy, unguarded)
  std::size_t parked_trims = 0;    // parked fibers that gave back pages below their stack
                                   // pointers (RuntimeConfig::fiber_stack_trim_after)
  std::size_t parked_pages = 0;    // the pages they gave back
};
DUET_API StackPoolStats stack_pool_stats() noexcept;

}  // namespace detail
}  // namespace duet

// block_cache.cpp: per-thread free lists over a global depot over slabs.
//
//   thread cache (per class, capped) <-> depot (per class, mutex, batches)
//                                          <- slabs (256 KiB) <- 2 MiB chunks
//
// The depot holds whole chains, as threads gave them back: a refill takes one
// chain and a give-back adds one, each O(1) under the depot's lock. Nothing
// walks blocks under that lock: a walk over blocks that other cores wrote
// keeps the lock held while they queue on it (docs/performance-log.md, "The
// injector as a ring of pointers", for the depot's part).
//
// Blocks are carved from slabs, never from the heap one by one: glibc's
// 64-byte-aligned operator new is slow and fragments the heap once a million
// blocks are live (docs/performance-log.md, "The slab block cache"); and
// slabs come from 2 MiB chunks, huge-page ones where those are cheaper to
// touch, because a slab's first touch is the dearest thing a cold spawn does
// (ChunkPolicy, SlabSource below); a slab's pages are faulted in with one
// call before its carve (populate).
// Memory is kept for reuse (in the depot), not returned to the OS.
//
// Under AddressSanitizer every block is its own heap allocation instead, so
// that use-after-free and leaks of task memory stay visible to it.
#include "duet/detail/block_cache.hpp"

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>

#include "alloc/chunk_policy.hpp"
#include "duet/detail/fork.hpp"
#include "duet/detail/thread_local.hpp"
#include "duet/memory.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define DUET_BLOCKS_ON_HEAP 1
#endif

namespace duet::detail {
namespace {

using blocks::block_bytes;
using blocks::FreeBlock;
using blocks::num_classes;
using blocks::ThreadCache;
constexpr std::size_t slab_bytes = std::size_t{256} << 10;
// A thread keeps up to this many bytes per class; past it, half goes to the
// depot. duet::set_block_cache_thread_cap sets it; 1 MiB by default (256
// blocks of the largest class): enough to absorb a burst of spawns.
constexpr std::size_t default_cap_bytes = std::size_t{1} << 20;
// Relaxed: read once per thread, when its cache starts (arm); a thread
// that started before a change keeps the caps it took.
std::atomic<std::size_t> g_cap_bytes{default_cap_bytes};

// Per-class caps, computed once per thread (a division on the free path
// costs more than the rest of it), at least 8 blocks a class.
[[maybe_unused]] std::array<std::uint32_t, num_classes> caps_for(  // unused on the heap
    std::size_t cap_bytes) noexcept {
  std::array<std::uint32_t, num_classes> a{};
  for (std::size_t c = 0; c < num_classes; ++c) {
    const std::size_t n = cap_bytes / block_bytes(c);
    a[c] = static_cast<std::uint32_t>(n < 8 ? 8 : n > 0xffffffffu ? 0xffffffffu : n);
  }
  return a;
}

static_assert(sizeof(FreeBlock) <= block_bytes(0));

/// Blocks shared by all threads, per class: a stack of chains.
struct Depot {
  std::mutex mu;
  FreeBlock* chains = nullptr;
  std::size_t count = 0;
};
std::array<Depot, num_classes>& depots() {
  static std::array<Depot, num_classes> d;
  return d;
}

/// A slab and the kind of chunk it was cut from.
struct Slab {
  char* base;
  bool huge;
};

/// Where slabs come from: 2 MiB chunks, 2 MiB-aligned, each cut into eight
/// slabs; ChunkPolicy decides which are marked MADV_HUGEPAGE. The price: a
/// runtime's task memory grows 2 MiB at a time. Where no huge page is free
/// (or THP is off), the kernel backs a marked chunk with 4 KiB pages.
class SlabSource {
 public:
  static constexpr std::size_t chunk_bytes = std::size_t{2} << 20;
  static_assert(chunk_bytes == ChunkPolicy::slabs_per_chunk * slab_bytes);

  /// A fresh slab of slab_bytes. Throws std::bad_alloc.
  Slab take() {
    std::lock_guard lk(mu_);
    if (left_ == 0) {
      huge_ = policy_.next_is_huge();
      next_ = map_chunk(huge_);
      left_ = chunk_bytes;
      ++chunks_;
      huge_chunks_ += huge_ ? 1 : 0;
    }
    char* p = next_;
    next_ += slab_bytes;
    left_ -= slab_bytes;
    return Slab{p, huge_};
  }
  /// What carving (first touching) a slab of that kind took.
  void charge(bool huge, std::uint64_t ns) noexcept {
    std::lock_guard lk(mu_);
    policy_.charge(huge, ns);
  }
  /// Chunks mapped so far, and of them the huge-page ones.
  void count(std::size_t& chunks, std::size_t& huge) {
    std::lock_guard lk(mu_);
    chunks = chunks_;
    huge = huge_chunks_;
  }

 private:
  static char* map_chunk(bool huge) {
    // Map one chunk more than needed and trim to the alignment: a huge page
    // can only back a 2 MiB-aligned range.
    const std::size_t span = 2 * chunk_bytes;
    void* p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    auto base = reinterpret_cast<std::uintptr_t>(p);
    auto start = (base + chunk_bytes - 1) & ~(chunk_bytes - 1);
    if (start > base) munmap(p, start - base);
    if (auto tail = base + span - (start + chunk_bytes); tail > 0) {
      munmap(reinterpret_cast<void*>(start + chunk_bytes), tail);
    }
    auto* chunk = reinterpret_cast<char*>(start);
#ifdef MADV_HUGEPAGE
    if (huge) (void)madvise(chunk, chunk_bytes, MADV_HUGEPAGE);  // a hint: failure is harmless
#else
    (void)huge;
#endif
    return chunk;
  }

  std::mutex mu_;
  ChunkPolicy policy_;
  char* next_ = nullptr;
  std::size_t left_ = 0;
  bool huge_ = false;
  std::size_t chunks_ = 0, huge_chunks_ = 0;
};
SlabSource& slab_source() {
  static SlabSource s;
  return s;
}

/// Slabs carved per class (Runtime::memory_stats()). Relaxed: counts, read for a
/// report, and a carve is a slow path's.
std::array<std::atomic<std::size_t>, num_classes>& slabs_carved() {
  static std::array<std::atomic<std::size_t>, num_classes> n{};
  return n;
}

/// Whether MADV_POPULATE_WRITE is worth asking (false once the kernel
/// refused it as unknown: older than 5.14, or a sandbox that filters it).
/// Relaxed: a hint read and cleared on the slab path; a thread that still
/// reads true asks once more and is refused again.
std::atomic<bool> g_populate{true};

/// Faults a fresh slab's pages in with one call, before the carve writes a
/// link into every block of it: the carve touches the whole slab, so this
/// adds no memory, and the kernel maps the pages in one pass instead of
/// one trap per page. A hint: where it fails, the carve's writes fault the
/// pages in as before.
void populate(char* base) noexcept {
#ifdef MADV_POPULATE_WRITE
  if (!g_populate.load(std::memory_order_relaxed)) return;
  if (madvise(base, slab_bytes, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
    g_populate.store(false, std::memory_order_relaxed);
#else
  (void)base;
#endif
}

/// Takes a slab and links its blocks; returns the chain and its length.
FreeBlock* carve_slab(std::size_t c, std::size_t& n) {
  const std::size_t bb = block_bytes(c);
  static_assert(slab_bytes >= 16 * blocks::largest_block, "a slab holds 16 of the largest");
  const Slab slab = slab_source().take();
  slabs_carved()[c].fetch_add(1, std::memory_order_relaxed);
  char* base = slab.base;
  n = slab_bytes / bb;
  // The slab's first touch, timed whole for the chunk policy: the populate
  // and the carve.
  const auto t0 = std::chrono::steady_clock::now();
  populate(base);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    reinterpret_cast<FreeBlock*>(base + i * bb)->next =
        reinterpret_cast<FreeBlock*>(base + (i + 1) * bb);
  }
  reinterpret_cast<FreeBlock*>(base + (n - 1) * bb)->next = nullptr;
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
  slab_source().charge(slab.huge, static_cast<std::uint64_t>(ns.count()));
  return reinterpret_cast<FreeBlock*>(base);
}

/// Moves `n` blocks of class c (from the front of k's list) to the depot.
[[gnu::noinline]] void give_back(ThreadCache& k, std::size_t c, std::uint32_t n) noexcept {
  if (n == 0 || k.head[c] == nullptr) return;
  // Cut the chain outside the lock: these blocks were freed by this thread.
  FreeBlock* first = k.head[c];
  FreeBlock* last = first;
  std::uint32_t moved = 1;
  for (; moved < n && last->next != nullptr; ++moved) last = last->next;
  k.head[c] = last->next;
  k.count[c] -= moved;
  last->next = nullptr;
  first->len = moved;
  Depot& d = depots()[c];
  std::lock_guard lk(d.mu);
  first->next_chain = d.chains;
  d.chains = first;
  d.count += moved;
}

void trim(ThreadCache& k) noexcept {
  for (std::size_t c = 0; c < num_classes; ++c) give_back(k, c, k.count[c]);
}

/// At thread exit, hands the thread's blocks to the depot.
struct Reaper {
  ~Reaper() {
    // A forked child's depot lock may be held by a thread that is not
    // there (duet/detail/fork.hpp): its blocks stay where they are.
    if (in_forked_child()) return;
    blocks::tl_cache.cap = {};  // a free from a later destructor goes slow, to the depot
    trim(blocks::tl_cache);
  }
};

/// The thread's first slow call: sets its caps (the inline free pushes
/// below them) and arms the reaper. Under ASan the caps stay zero, so that
/// every free reaches free_slow and the heap.
[[gnu::noinline, gnu::cold]] void arm(ThreadCache& k) {
  thread_local Reaper reaper;
  (void)reaper;
  k.reaper_armed = true;
#ifndef DUET_BLOCKS_ON_HEAP
  k.cap = caps_for(g_cap_bytes.load(std::memory_order_relaxed));
#endif
}

/// The thread's list of class c is empty: refill from the depot (a batch)
/// or from a new slab.
[[maybe_unused]] FreeBlock* refill(ThreadCache& k, std::size_t c) {  // unused on the heap
  if (!k.reaper_armed) arm(k);
  ++k.stats.misses;
  {
    Depot& d = depots()[c];
    std::lock_guard lk(d.mu);
    if (FreeBlock* first = d.chains) {
      d.chains = first->next_chain;
      d.count -= first->len;
      k.head[c] = first;
      k.count[c] = first->len;
      return first;
    }
  }
  std::size_t n = 0;
  FreeBlock* chain = carve_slab(c, n);
  k.head[c] = chain;
  k.count[c] = static_cast<std::uint32_t>(n);
  return chain;
}

}  // namespace

namespace blocks {

constinit DUET_TLS ThreadCache tl_cache{};

ThreadCache& this_thread_cache_opaque() noexcept {
  asm volatile("" ::: "memory");  // impure: never merged with another call
  return tl_cache;
}

void foreign_cache(const ThreadCache* used) noexcept {
  std::fprintf(stderr,
               "duet: block cache: an inline path used the lists at %p, not this thread's at %p "
               "(a thread-local address kept across a switch to another thread)\n",
               static_cast<const void*>(used), static_cast<const void*>(&tl_cache));
  std::abort();
}

void* alloc_slow(std::size_t size) {
  const std::size_t c = class_of(size);
#ifdef DUET_BLOCKS_ON_HEAP
  return ::operator new (c < num_classes ? block_bytes(c) : size, std::align_val_t{block_align});
#else
  if (c >= num_classes) return ::operator new (size, std::align_val_t{block_align});
  ThreadCache& k = tl_cache;
  FreeBlock* b = k.head[c];
  if (b == nullptr) {
    b = refill(k, c);
  } else {
    ++k.stats.hits;  // a hit taken here: the caller was built with a sanitizer
  }
  k.head[c] = b->next;
  --k.count[c];
  return b;
#endif
}

void free_slow(void* p, std::size_t size) noexcept {
  if (p == nullptr) return;
  const std::size_t c = class_of(size);
  ThreadCache& k = tl_cache;
  if (!k.reaper_armed) arm(k);
#ifdef DUET_BLOCKS_ON_HEAP
  (void)c;
  ::operator delete (p, std::align_val_t{block_align});
#else
  if (c >= num_classes) {
    ::operator delete (p, std::align_val_t{block_align});
    return;
  }
  auto* b = static_cast<FreeBlock*>(p);
  b->next = k.head[c];
  k.head[c] = b;
  if (++k.count[c] > k.cap[c]) give_back(k, c, k.cap[c] / 2);
#endif
}

}  // namespace blocks

BlockCacheStats block_cache_stats() noexcept {
  return blocks::tl_cache.stats;
}

void block_cache_trim() noexcept {
  trim(blocks::tl_cache);
}

BlockMemory block_memory() {
  BlockMemory m;
  std::size_t chunks = 0;
  slab_source().count(chunks, m.huge_chunks);
  m.chunk_bytes = chunks * SlabSource::chunk_bytes;
  m.thread_cap_bytes = g_cap_bytes.load(std::memory_order_relaxed);
  for (std::size_t c = 0; c < num_classes; ++c) {
    const std::size_t slabs = slabs_carved()[c].load(std::memory_order_relaxed);
    if (slabs == 0) continue;
    m.classes.push_back({block_bytes(c), slabs});
    m.carved_bytes += slabs * slab_bytes;
    Depot& d = depots()[c];
    std::lock_guard lk(d.mu);
    m.depot_bytes += d.count * block_bytes(c);
  }
  return m;
}

}  // namespace duet::detail

namespace duet {

void set_block_cache_thread_cap(std::size_t bytes) noexcept {
  detail::g_cap_bytes.store(bytes, std::memory_order_relaxed);
}

}  // namespace duet

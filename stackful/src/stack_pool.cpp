// stack_pool.cpp: per-thread stack caches over a capped global pool, the
// lazy strategy's trimming on release, and the batched return of pooled
// stacks' pages to the kernel.
//
// Where a released stack goes: its thread's cache (up to
// `thread_cache_stacks`, no lock); when that is full, half of the cache
// moves to the global pool under one lock. The pool keeps up to
// `pool_resident_bytes` of stacks hot (their touched pages stay, so reuse
// costs no first-touch fault: docs/performance-log.md, "Why fibers had a
// cliff").
// Past that mark stacks wait in `pending`; once `advise_batch` of them
// (256) have gathered, the thread that adds the last one takes them all,
// sorts them by address and gives their pages back with one MADV_DONTNEED
// per contiguous run (slots of one slab are adjacent: usually a few calls
// for 256 stacks), then files them as cold. Each madvise flushes the TLB on
// every CPU the process runs on (an IPI to each; docs/performance-log.md,
// "One switch per hand-off"), which is why it is done in batches and never
// per stack or on the spawn path.
// MADV_DONTNEED rather than MADV_FREE: RSS drops at once, so a user who
// watches it sees memory come back (Go went back to it in 1.16 for this).
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "duet/detail/fork.hpp"
#include "duet/detail/stackful_ops.hpp"
#include "duet/detail/thread_local.hpp"
#include "duet/memory.hpp"
#include "duet/stackful/stack.hpp"
#include "stack_stats.hpp"
#include "switch.hpp"

namespace duet::detail {
namespace {

/// Stacks of one shape (size, guard, strategy) are interchangeable. In the
/// global pool, `stacks` are the hot ones (pages resident), `pending` wait
/// for their batch's madvise, and `cold` have given their pages back; a
/// thread cache uses `last_given` and `stacks` only.
struct Bucket {
  std::uint32_t size;
  std::uint8_t guard_log2;
  StackStrategy strategy;
  // A thread cache's stack given back last, beside the vector: the next
  // first run of a fiber of this shape takes it. Most fibers that start on
  // a worker follow one that just finished there, and a slot is a store
  // and a load where the vector's push and pop were calls (the push's
  // growth path gave the recycle a six-register frame; docs/performance-log.md,
  // "The stack given back last"). Empty in the global pool.
  Stack last_given{};
  std::vector<Stack> stacks;
  std::vector<Stack> pending;
  std::vector<Stack> cold;
};

/// Stacks gathered before one batch of madvise calls.
constexpr std::size_t advise_batch = 256;

bool same_shape(const Bucket& b, const Stack& s) noexcept {
  return b.size == s.size && b.guard_log2 == s.guard_log2 && b.strategy == s.strategy;
}

Bucket* find_bucket(std::vector<Bucket>& v, const Stack& s) noexcept {
  for (auto& b : v) {
    if (same_shape(b, s)) return &b;
  }
  return nullptr;
}

Bucket& bucket_for(std::vector<Bucket>& v, const Stack& s) {
  if (Bucket* b = find_bucket(v, s)) return *b;
  v.push_back(Bucket{s.size, s.guard_log2, s.strategy, {}, {}, {}, {}});
  return v.back();
}

/// What a pooled stack may hold resident: the pool cap counts this.
std::size_t charge(const Stack& s) noexcept {
  if (s.strategy != StackStrategy::lazy) return s.usable();
  const std::size_t keep = tuning_cells().lazy_keep_bytes.load(std::memory_order_relaxed);
  return keep < s.usable() ? keep : s.usable();
}

struct ThreadCache;

struct GlobalPool {
  std::mutex mu;
  std::vector<Bucket> buckets;
  std::size_t bytes = 0;     // charged for every pooled stack (the cap)
  std::size_t resident = 0;  // charged for the hot ones (the resident mark)
  // Every thread's cache, for stack_pool_stats().in_use, and the counts of
  // the threads that have exited. Guarded by mu.
  std::vector<const ThreadCache*> caches;
  std::size_t retired_acquired = 0, retired_released = 0;
  ~GlobalPool() {
    for (auto& b : buckets) {
      for (auto* v : {&b.stacks, &b.pending, &b.cold}) {
        for (auto& s : *v) stack_unmap(s);
      }
    }
  }
};
GlobalPool& global() {
  static GlobalPool g;
  return g;
}

/// Gives back the pages of `batch` (stacks nobody else can reach now): one
/// MADV_DONTNEED per run of adjacent stacks (a run spans the guard pages
/// between them, which hold no pages). Returns the calls made.
std::size_t advise_pages(std::vector<Stack>& batch) noexcept {
  std::sort(batch.begin(), batch.end(),
            [](const Stack& a, const Stack& b) { return a.base < b.base; });
  std::size_t calls = 0;
  for (std::size_t i = 0; i < batch.size();) {
    std::size_t j = i + 1;
    while (j < batch.size() && batch[j].base == batch[j - 1].top()) ++j;
    char* from = batch[i].bottom();
    ++calls;
    if (madvise(from, static_cast<std::size_t>(batch[j - 1].top() - from), MADV_DONTNEED) != 0) {
      // The kernel refused the run as one range: stack by stack.
      for (std::size_t k = i; k < j; ++k, ++calls) {
        madvise(batch[k].bottom(), batch[k].usable(), MADV_DONTNEED);
      }
    }
    i = j;
  }
  return calls;
}

/// Stacks past the resident mark, whose pages were just given back, join
/// the cold ones (or are unmapped when the pool has no room for them).
void file_cold(std::vector<Stack>& advised, std::size_t calls) noexcept {
  stack_counters().advised.fetch_add(advised.size(), std::memory_order_relaxed);
  stack_counters().advise_calls.fetch_add(calls, std::memory_order_relaxed);
  GlobalPool& g = global();
  {
    std::lock_guard lk(g.mu);
    try {
      Bucket& b = bucket_for(g.buckets, advised.front());  // re-found: buckets may have moved
      b.cold.insert(b.cold.end(), advised.begin(), advised.end());
      return;
    } catch (...) {
      for (const Stack& s : advised) g.bytes -= charge(s);  // no memory: unmap them below
    }
  }
  for (const Stack& s : advised) stack_unmap(s);
}

/// Stacks of one shape leave a thread for the global pool, under one lock:
/// hot while the pool holds less than `pool_resident_bytes` (never when
/// `cold`), then pending until a batch is full (this thread then gives the
/// batch's pages back), and unmapped past `pool_cap_bytes`.
void release_to_global(std::span<const Stack> batch, bool cold = false) noexcept {
  if (batch.empty()) return;
  GlobalPool& g = global();
  const TuningCells& t = tuning_cells();
  const std::size_t cap = t.pool_cap_bytes.load(std::memory_order_relaxed);
  const std::size_t keep = t.pool_resident_bytes.load(std::memory_order_relaxed);
  const std::size_t c = charge(batch.front());  // one shape: one charge
  std::size_t kept = 0;
  std::vector<Stack> to_advise;
  {
    std::lock_guard lk(g.mu);
    // How many stacks of charge c fit in `left` bytes: any number when a
    // stack is charged nothing (a lazy stack with lazy_keep_bytes 0).
    const auto room = [c](std::size_t left) { return c == 0 ? SIZE_MAX : left / c; };
    std::size_t fit = g.bytes >= cap ? 0 : std::min(batch.size(), room(cap - g.bytes));
    const std::size_t hot = cold || g.resident >= keep ? 0 : std::min(fit, room(keep - g.resident));
    try {
      Bucket& b = bucket_for(g.buckets, batch.front());
      b.stacks.reserve(b.stacks.size() + hot);
      b.pending.reserve(b.pending.size() + (fit - hot));
      b.stacks.insert(b.stacks.end(), batch.begin(), batch.begin() + static_cast<long>(hot));
      b.pending.insert(b.pending.end(), batch.begin() + static_cast<long>(hot),
                       batch.begin() + static_cast<long>(fit));
      g.bytes += fit * c;
      g.resident += hot * c;
      kept = fit;
      if (b.pending.size() >= advise_batch) to_advise.swap(b.pending);
    } catch (...) {
      kept = 0;  // no memory for the pool's vectors: unmap instead
    }
  }
  for (std::size_t i = kept; i < batch.size(); ++i) stack_unmap(batch[i]);
  if (!to_advise.empty()) file_cold(to_advise, advise_pages(to_advise));
}

/// Takes one stack out of the global pool: a hot one first, then one
/// awaiting its batch, then a cold one (whose pages fault in again).
bool take_pooled(GlobalPool& g, Bucket& b, Stack* out) noexcept {
  for (std::vector<Stack>* v : {&b.stacks, &b.pending, &b.cold}) {
    if (v->empty()) continue;
    *out = v->back();
    v->pop_back();
    const std::size_t c = charge(*out);
    g.bytes -= c;
    if (v == &b.stacks) g.resident -= c;
    return true;
  }
  return false;
}

/// A count written by its own thread only and read by stack_pool_stats on
/// any: a load and a store (plain moves on x86), no locked instruction on
/// the spawn path. Release/acquire: a reader that sees a stack's release
/// (on the thread where its fiber finished) also sees its acquire (on the
/// thread where it started, which happened before), so in_use never counts
/// a stack as released before it was acquired.
struct OwnCount {
  std::atomic<std::size_t> v{0};
  void inc() noexcept { v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
  [[nodiscard]] std::size_t get() const noexcept { return v.load(std::memory_order_acquire); }
};

/// The calling thread's cache. Worker threads live as long as their
/// runtime, so this is the per-worker pool; at thread exit its stacks go to
/// the global pool. It also counts the stacks its thread handed to fibers
/// and took back (a fiber may finish on another worker than it started on,
/// so only the sums over all threads mean something).
struct ThreadCache {
  std::vector<Bucket> buckets;
  // The bucket used last: a thread's fibers nearly always share one shape,
  // so a fiber's first run and finish skip the search over `buckets`
  // (docs/performance-log.md, "Hot-path trims of spawn+join"). Points into
  // `buckets`, and is set from every search, the only code that appends to
  // it.
  Bucket* last = nullptr;
  // The bucket of the last request (strategy and usable bytes as a fiber
  // asks: request_key), so that a fiber's first run finds its stack without
  // working out the stack's shape (page rounding, guard) again. Points into
  // `buckets`; reset whenever `buckets` grows.
  Bucket* asked = nullptr;
  std::uint64_t asked_key = 0;
  OwnCount acquired, released;

  /// The bucket for stacks shaped like `s`, made if there is none. Throws
  /// std::bad_alloc.
  Bucket& bucket(const Stack& s) {
    if (last != nullptr && same_shape(*last, s)) return *last;
    const std::size_t n = buckets.size();
    Bucket& b = bucket_for(buckets, s);
    if (buckets.size() != n) asked = nullptr;  // the vector may have moved
    last = &b;
    return b;
  }
  /// The bucket for stacks shaped like `s`, or null.
  Bucket* find(const Stack& s) noexcept {
    if (last != nullptr && same_shape(*last, s)) return last;
    Bucket* b = find_bucket(buckets, s);
    if (b != nullptr) last = b;
    return b;
  }
  ThreadCache() {
    GlobalPool& g = global();
    std::lock_guard lk(g.mu);
    g.caches.push_back(this);
  }
  ~ThreadCache();
};

// The calling thread's cache, through a plain pointer: a thread_local
// object with a constructor is reached through a TLS wrapper call and a
// guard check on every access (docs/performance-log.md, "One switch per
// hand-off").
DUET_TLS ThreadCache* tl_cache = nullptr;
DUET_TLS bool tl_cache_gone = false;  // destroyed at thread exit

ThreadCache::~ThreadCache() {
  tl_cache = nullptr;
  tl_cache_gone = true;
  // A forked child's pool lock may be held by a thread that is not there
  // (duet/detail/fork.hpp): the stacks are unmapped with the buckets.
  if (in_forked_child()) return;
  for (auto& b : buckets) {
    release_to_global(b.stacks);
    if (b.last_given) release_to_global(std::span<const Stack>(&b.last_given, 1));
  }
  GlobalPool& g = global();
  std::lock_guard lk(g.mu);
  g.retired_acquired += acquired.get();
  g.retired_released += released.get();
  std::erase(g.caches, this);
}

[[gnu::noinline]] ThreadCache* make_cache() {
  thread_local ThreadCache c;
  tl_cache = &c;
  return &c;
}

/// The calling thread's cache; null once it was destroyed (thread exit:
/// a stack released by a later destructor goes to the global pool).
ThreadCache* this_cache() {
  if (ThreadCache* c = tl_cache) [[likely]] {
    return c;
  }
  return tl_cache_gone ? nullptr : make_cache();
}

/// A stack taken back by a thread whose cache is gone.
void count_cacheless_release() noexcept {
  GlobalPool& g = global();
  std::lock_guard lk(g.mu);
  g.retired_released += 1;
}

/// Whether the page just under the high-water mark was written: any of its
/// top 32 words non-zero. Reading an untouched page maps the shared zero
/// page (no memory is charged; only the first read faults), which is far
/// cheaper than asking the kernel with mincore, a system call. A fiber that
/// went deeper wrote return addresses and frame pointers there.
DUET_NO_SANITIZE_ADDRESS bool mark_touched(const char* mark_page_top) noexcept {
  const auto* w = reinterpret_cast<const volatile std::uint64_t*>(mark_page_top) - 32;
  for (int i = 0; i < 32; ++i) {
    if (w[i] != 0) return true;
  }
  return false;
}

/// A lazy stack that was touched below the high-water mark gives the pages
/// below it back. A stack grows one page after the other, and GCC's
/// -fstack-clash-protection probes every page of a large frame. (A frame
/// that skips the mark keeps its pages until a later release finds the mark
/// touched.)
void trim_lazy(const Stack& s) noexcept {
  const std::size_t pg = page_size();
  const std::size_t keep = tuning_cells().lazy_keep_bytes.load(std::memory_order_relaxed);
  if (s.usable() <= keep + pg) return;
  char* mark_top = s.top() - keep;  // the top of the first page under the mark
  if (!mark_touched(mark_top)) return;
  madvise(s.bottom(), static_cast<std::size_t>(mark_top - s.bottom()), MADV_DONTNEED);
  stack_counters().trimmed.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

std::size_t trim_below(const Stack& s, const char* sp) noexcept {
  const std::size_t pg = page_size();
  const auto keep = reinterpret_cast<std::uintptr_t>(sp - red_zone) & ~(pg - 1);
  char* from = s.bottom();
  if (keep <= reinterpret_cast<std::uintptr_t>(from)) return 0;
  const auto bytes = static_cast<std::size_t>(keep - reinterpret_cast<std::uintptr_t>(from));
  // Which pages are resident: mincore, a page-table walk with no TLB flush,
  // so that a fiber whose deep pages are gone already (never touched, or
  // given back before) costs no madvise, whose flush reaches every CPU the
  // process runs on.
  std::size_t resident = 0;
  std::array<unsigned char, 4096> vec;
  for (std::size_t off = 0; off < bytes; off += vec.size() * pg) {
    const std::size_t len = std::min(bytes - off, vec.size() * pg);
    if (mincore(from + off, len, vec.data()) != 0) {
      resident += len / pg;  // cannot tell: count the range as resident
      continue;
    }
    for (std::size_t i = 0; i < len / pg; ++i) resident += vec[i] & 1U;
  }
  if (resident == 0) return 0;
  if (madvise(from, bytes, MADV_DONTNEED) != 0) return 0;
  stack_counters().parked_trims.fetch_add(1, std::memory_order_relaxed);
  stack_counters().parked_pages.fetch_add(resident, std::memory_order_relaxed);
  return resident;
}

namespace {

/// Stacks per slab: about 4 MiB of address space, at most 64 (the thread
/// cache's default size) and at least one. A lazy stack reserves megabytes
/// and is mapped on its own.
std::size_t slab_count(const Stack& want) noexcept {
  if (want.strategy == StackStrategy::lazy) return 1;
  constexpr std::size_t slab_bytes = std::size_t{4} << 20;
  const std::size_t n = slab_bytes / want.size;
  return n < 1 ? 1 : (n > 64 ? 64 : n);
}

/// What an empty thread cache's vector takes in when it is refilled: room
/// for `thread_cache_stacks` with the last_given slot (a cache of 0 keeps
/// nothing; before the slot, it kept a slab's other stacks all the same).
std::size_t vector_room() noexcept {
  const std::size_t limit = tuning_cells().thread_cache_stacks.load(std::memory_order_relaxed);
  return limit > 0 ? limit - 1 : 0;
}

/// The thread's cache is empty: takes a stack from the global pool, and up
/// to a slab's worth more into `mine` (one lock for many, and a cache that
/// the hand-off, which never locks, can use). Empty when the pool has none.
Stack refill_from_global(Bucket& mine, const Stack& want) {
  GlobalPool& gp = global();
  std::lock_guard lk(gp.mu);
  Bucket& b = bucket_for(gp.buckets, want);
  Stack s;
  if (!take_pooled(gp, b, &s)) return Stack{};
  const std::size_t more =
      std::min({b.stacks.size() + b.pending.size() + b.cold.size(),
                std::min<std::size_t>(slab_count(want), 64) - 1, vector_room()});
  try {
    mine.stacks.reserve(mine.stacks.size() + more);
  } catch (...) {
    return s;
  }
  Stack next;
  for (std::size_t i = 0; i < more && take_pooled(gp, b, &next); ++i) mine.stacks.push_back(next);
  return s;
}

/// Nothing cached anywhere: maps a slab, returns one stack of it and keeps
/// the others in `mine` (the calling thread's bucket, empty here).
Stack map_into_cache(Bucket& mine, const Stack& want) {
  std::array<Stack, 64> fresh;
  const std::size_t n =
      stack_map_slab(want.usable(), want.guard() != 0, fresh.data(), slab_count(want));
  for (std::size_t i = 0; i < n; ++i) fresh[i].strategy = want.strategy;
  const std::size_t keep = std::min(n - 1, vector_room());
  try {
    mine.stacks.reserve(mine.stacks.size() + keep);
    for (std::size_t i = 1; i <= keep; ++i) mine.stacks.push_back(fresh[i]);
  } catch (...) {
    for (std::size_t i = 1; i <= keep; ++i) stack_unmap(fresh[i]);
  }
  release_to_global(std::span<const Stack>(fresh.data() + 1 + keep, n - 1 - keep));
  return fresh[0];
}

}  // namespace

StackCounters& stack_counters() noexcept {
  static StackCounters c;
  return c;
}

constinit TuningCells g_tuning_cells{
    StackTuning{}.thread_cache_stacks, StackTuning{}.pool_cap_bytes,
    StackTuning{}.pool_resident_bytes, StackTuning{}.lazy_keep_bytes,
    StackTuning{}.lazy_reserve_bytes,  StackTuning{}.shared_stack_bytes};

namespace {
/// The stack that stack_acquire(strategy, usable) hands out: its size and
/// guard (the pools' key). Throws std::invalid_argument.
Stack wanted(StackStrategy strategy, std::size_t usable) {
  if (strategy == StackStrategy::copy) {
    throw std::invalid_argument("duet: copy fibers have no stack of their own");
  }
  if (usable > max_fiber_stack) {
    throw std::invalid_argument("duet: a fiber stack may be at most 1 GiB (max_fiber_stack)");
  }
  const std::size_t pg = page_size();  // a power of two: a mask, not a division
  if (usable < pg) usable = pg;
  usable = (usable + pg - 1) & ~(pg - 1);
  const bool guard = strategy != StackStrategy::unguarded_unsafe;
  return Stack{nullptr, static_cast<std::uint32_t>(usable + (guard ? pg : 0)),
               guard ? guard_log2_of(pg) : std::uint8_t{0}, strategy};
}
}  // namespace

namespace {
/// A request (strategy, usable bytes asked) as one word: the key of
/// ThreadCache::asked. Never 0 (the strategy's bit is set).
std::uint64_t request_key(StackStrategy strategy, std::size_t usable) noexcept {
  return (static_cast<std::uint64_t>(usable) << 8) | 0x80U | static_cast<std::uint8_t>(strategy);
}
}  // namespace

namespace {
/// A copy of `s` as its two words: GCC copies a Stack out of memory into
/// the two return registers field by field otherwise.
Stack copy_words(const Stack& s) noexcept {
  std::array<std::uint64_t, 2> w;
  std::memcpy(w.data(), &s, sizeof w);
  return std::bit_cast<Stack>(w);
}

/// stack_acquire_cached's bucket when the last request was another one.
[[gnu::noinline]] Bucket* find_asked(ThreadCache* cache, StackStrategy strategy,
                                     std::size_t usable) noexcept {
  if (strategy == StackStrategy::copy || usable > max_fiber_stack) return nullptr;
  Bucket* mine = cache->find(wanted(strategy, usable));
  if (mine != nullptr) {
    cache->asked = mine;
    cache->asked_key = request_key(strategy, usable);
  }
  return mine;
}
}  // namespace

Stack stack_acquire_cached(StackStrategy strategy, std::size_t usable) noexcept {
  ThreadCache* cache = tl_cache;
  if (cache == nullptr) return Stack{};  // not made yet (or gone): the slow path makes it
  Bucket* mine = cache->asked;
  if (mine == nullptr || cache->asked_key != request_key(strategy, usable)) [[unlikely]] {
    mine = find_asked(cache, strategy, usable);
    if (mine == nullptr) return Stack{};
  }
  const Stack* from = &mine->last_given;
  if (!*from) [[unlikely]] {
    if (mine->stacks.empty()) return Stack{};
    from = &mine->stacks.back();
  }
  const Stack s = copy_words(*from);
  if (from == &mine->last_given) {
    mine->last_given.base = nullptr;
  } else {
    mine->stacks.pop_back();
  }
  cache->acquired.inc();
  return s;
}

Stack stack_acquire(StackStrategy strategy, std::size_t usable) {
  const Stack want = wanted(strategy, usable);
  ThreadCache* cache = this_cache();
  if (cache == nullptr) {
    // Only a thread_local destructor at thread exit can get here.
    throw StackError(std::make_error_code(std::errc::operation_not_permitted),
                     "duet: no fiber stack on a thread that is exiting");
  }
  Bucket& mine = cache->bucket(want);
  cache->acquired.inc();  // undone below if nothing can be mapped
  if (Stack s = std::exchange(mine.last_given, Stack{})) return s;
  if (!mine.stacks.empty()) {
    Stack s = mine.stacks.back();
    mine.stacks.pop_back();
    return s;
  }
  if (Stack s = refill_from_global(mine, want)) return s;
  try {
    return map_into_cache(mine, want);
  } catch (...) {
    cache->released.inc();  // nothing was handed out
    throw;
  }
}

void stack_count_release() noexcept {
  if (ThreadCache* cache = tl_cache) [[likely]] {
    cache->released.inc();
  } else if (ThreadCache* made = this_cache()) {
    made->released.inc();
  } else {
    count_cacheless_release();
  }
}

namespace {
/// Keeps `s` in the calling thread's cache: it takes its bucket's
/// last_given slot, and the stack that held the slot (older) joins the
/// vector; a full vector first sends its older half to the global pool in
/// one batch. False when a stack is left over for the global pool: then
/// `s` is that stack (no memory for the vector, or a cache of one).
bool keep_in_cache(ThreadCache& cache, Stack& s, std::size_t limit) noexcept {
  try {
    Bucket& mine = cache.bucket(s);
    std::swap(s, mine.last_given);
    if (!s) return true;
    if (mine.stacks.size() + 1 < limit) {  // the slot and the vector: `limit` stacks
      mine.stacks.push_back(s);
      return true;
    }
    if (mine.stacks.empty()) return false;
    const auto half = static_cast<long>(std::max<std::size_t>(mine.stacks.size() / 2, 1));
    release_to_global(std::span<const Stack>(mine.stacks.data(), static_cast<std::size_t>(half)));
    mine.stacks.erase(mine.stacks.begin(), mine.stacks.begin() + half);
    mine.stacks.push_back(s);
    return true;
  } catch (...) {
    return false;  // no memory for the cache's vectors
  }
}

/// stack_recycle past its common case: a lazy stack (trimmed first), a
/// bucket other than the last one used, a full slot, no cache yet.
[[gnu::noinline]] void recycle_slow(Stack s) noexcept {
  if (!s) return;
  ThreadCache* cache = this_cache();
  if (s.strategy == StackStrategy::lazy) trim_lazy(s);
  const std::size_t limit = tuning_cells().thread_cache_stacks.load(std::memory_order_relaxed);
  if (cache != nullptr && limit > 0 && keep_in_cache(*cache, s, limit)) return;
  release_to_global(std::span<const Stack>(&s, 1));
}
}  // namespace

namespace {
/// The bucket whose empty last_given slot takes `s` with a store: the
/// common case of stack_recycle (a pooled stack, the bucket used last, a
/// thread cache that keeps stacks), or null. An empty Stack (size 0)
/// matches no bucket.
[[gnu::always_inline]] inline Bucket* free_slot_for(ThreadCache* cache, const Stack& s) noexcept {
  if (cache == nullptr || s.strategy == StackStrategy::lazy || cache->last == nullptr) {
    return nullptr;
  }
  Bucket* b = cache->last;
  if (!same_shape(*b, s) || b->last_given ||
      tuning_cells().thread_cache_stacks.load(std::memory_order_relaxed) == 0) {
    return nullptr;
  }
  return b;
}

/// stack_release past its common case.
[[gnu::noinline]] void release_slow(Stack s) noexcept {
  stack_count_release();
  recycle_slow(s);
}
}  // namespace

void stack_recycle(Stack s) noexcept {
  if (Bucket* b = free_slot_for(tl_cache, s)) [[likely]] {
    b->last_given = s;
    return;
  }
  recycle_slow(s);
}

void stack_recycle_cold(Stack s) noexcept {
  if (!s) return;
  if (s.strategy == StackStrategy::lazy) trim_lazy(s);
  release_to_global(std::span<const Stack>(&s, 1), /*cold=*/true);
}

bool stack_recycles_cheaply(const Stack& s) noexcept {
  ThreadCache* cache = tl_cache;
  if (!s || cache == nullptr) return false;
  const Bucket* mine = cache->find(s);
  if (mine == nullptr) return false;
  const std::size_t limit = tuning_cells().thread_cache_stacks.load(std::memory_order_relaxed);
  if (limit == 0) return false;
  if (!mine->last_given && s.strategy != StackStrategy::lazy) return true;
  return mine->stacks.size() + 1 < limit && mine->stacks.size() < mine->stacks.capacity();
}

void stack_release(Stack s) noexcept {
  if (!s) return;
  // stack_count_release and stack_recycle, their common cases fused: one
  // call where a fiber's finish made three (docs/performance-log.md, "The
  // spawn+join's last misprediction, and the path around it").
  ThreadCache* cache = tl_cache;
  if (Bucket* b = free_slot_for(cache, s)) [[likely]] {
    cache->released.inc();
    b->last_given = s;
    return;
  }
  release_slow(s);  // a tail call: the common case above needs no frame
}

StackPoolStats stack_pool_stats() noexcept {
  StackPoolStats st;
  st.mapped = stack_counters().mapped.load(std::memory_order_relaxed);
  st.slabs = stack_counters().slabs.load(std::memory_order_relaxed);
  st.unmapped = stack_counters().unmapped.load(std::memory_order_relaxed);
  st.trimmed = stack_counters().trimmed.load(std::memory_order_relaxed);
  GlobalPool& g = global();
  std::lock_guard lk(g.mu);
  st.pooled_bytes = g.bytes;
  st.resident_bytes = g.resident;
  st.advised = stack_counters().advised.load(std::memory_order_relaxed);
  st.advise_calls = stack_counters().advise_calls.load(std::memory_order_relaxed);
  st.parked_trims = stack_counters().parked_trims.load(std::memory_order_relaxed);
  st.parked_pages = stack_counters().parked_pages.load(std::memory_order_relaxed);
  std::size_t acquired = g.retired_acquired, released = g.retired_released;
  for (const ThreadCache* c : g.caches) {
    // Released first: a stack released on one thread after we read its
    // acquire on another could otherwise count as a negative number.
    released += c->released.get();
  }
  for (const ThreadCache* c : g.caches) acquired += c->acquired.get();
  st.in_use = acquired > released ? acquired - released : 0;
  return st;
}

namespace {
/// Runtime::memory_stats()'s view of the pool (duet/detail/stackful_ops.hpp).
void read_stack_memory(StackMemory& m) {
  const StackPoolStats st = stack_pool_stats();
  // Two relaxed counters read one after the other: never below zero.
  m.mapped_stacks = st.mapped > st.unmapped ? st.mapped - st.unmapped : 0;
  m.in_use = st.in_use;
  m.pooled_bytes = st.pooled_bytes;
  m.resident_bytes = st.resident_bytes;
}
}  // namespace

}  // namespace duet::detail

// The core's weak reference (common/src/sched/runtime.cpp) finds it here,
// in the object every fiber's stack comes from.
extern "C" {
DUET_API extern const duet::detail::StackMemorySource duet_stack_memory_source;
const duet::detail::StackMemorySource duet_stack_memory_source = &duet::detail::read_stack_memory;
}

namespace duet {

StackTuning stack_tuning() noexcept {
  auto& c = detail::tuning_cells();
  constexpr auto r = std::memory_order_relaxed;
  return StackTuning{c.thread_cache_stacks.load(r), c.pool_cap_bytes.load(r),
                     c.pool_resident_bytes.load(r), c.lazy_keep_bytes.load(r),
                     c.lazy_reserve_bytes.load(r),  c.shared_stack_bytes.load(r)};
}

void set_stack_tuning(const StackTuning& t) {
  if (t.lazy_reserve_bytes == 0 || t.lazy_reserve_bytes > max_fiber_stack) {
    throw std::invalid_argument("duet: lazy_reserve_bytes must be in (0, 1 GiB]");
  }
  if (t.shared_stack_bytes < (std::size_t{16} << 10) || t.shared_stack_bytes > max_fiber_stack) {
    throw std::invalid_argument("duet: shared_stack_bytes must be in [16 KiB, 1 GiB]");
  }
  auto& c = detail::tuning_cells();
  constexpr auto r = std::memory_order_relaxed;
  c.thread_cache_stacks.store(t.thread_cache_stacks, r);
  c.pool_cap_bytes.store(t.pool_cap_bytes, r);
  c.pool_resident_bytes.store(t.pool_resident_bytes, r);
  c.lazy_keep_bytes.store(t.lazy_keep_bytes, r);
  c.lazy_reserve_bytes.store(t.lazy_reserve_bytes, r);
  c.shared_stack_bytes.store(t.shared_stack_bytes, r);
}

}  // namespace duet

namespace duet {

std::size_t trim_stack_pool() noexcept {
  using detail::Stack;
  detail::GlobalPool& g = detail::global();
  const std::size_t keep =
      detail::tuning_cells().pool_resident_bytes.load(std::memory_order_relaxed);
  std::size_t advised = 0;
  for (;;) {
    std::vector<Stack> batch;  // one shape at a time
    {
      std::lock_guard lk(g.mu);
      for (auto& b : g.buckets) {
        batch.swap(b.pending);
        // The oldest hot stacks (the front) past the mark join them.
        std::size_t over = 0;
        while (over < b.stacks.size() && g.resident > keep) {
          g.resident -= detail::charge(b.stacks[over++]);
        }
        try {
          batch.insert(batch.end(), b.stacks.begin(), b.stacks.begin() + static_cast<long>(over));
          b.stacks.erase(b.stacks.begin(), b.stacks.begin() + static_cast<long>(over));
        } catch (...) {
          for (std::size_t i = 0; i < over; ++i) g.resident += detail::charge(b.stacks[i]);
        }
        if (!batch.empty()) break;
      }
    }
    if (batch.empty()) return advised;
    advised += batch.size();
    detail::file_cold(batch, detail::advise_pages(batch));
  }
}

}  // namespace duet

#include "duet/detail/block_cache.hpp"
#include "duet/detail/tls.hpp"

#include <array>
#include <new>

namespace duet::detail {
namespace {

constexpr std::size_t class_size = 64;
constexpr std::size_t num_classes = 64;  // 64 B .. 4 KiB
// Per class and thread, keep at most this many bytes (and at least 64
// blocks): enough to absorb a burst of spawns without holding much memory.
constexpr std::size_t cap_bytes = 1 << 20;

struct FreeBlock {
  FreeBlock* next;
};

// Plain data, constant-initialised: an access is one %fs-relative load, with
// no initialisation guard. The blocks go back to the heap at thread exit
// through `Reaper`, constructed on the first heap refill only.
struct Cache {
  std::array<FreeBlock*, num_classes> head;
  std::array<std::uint32_t, num_classes> count;
  BlockCacheStats stats;
  bool reaper_armed;
  void trim() noexcept {
    for (std::size_t c = 0; c < num_classes; ++c) {
      while (head[c] != nullptr) {
        FreeBlock* b = head[c];
        head[c] = b->next;
        ::operator delete (b, std::align_val_t{block_align});
      }
      count[c] = 0;
    }
  }
};

DUET_TLS constinit Cache cache{};

struct Reaper {
  ~Reaper() { cache.trim(); }
};

void arm_reaper() {
  thread_local Reaper reaper;
  (void)reaper;
  cache.reaper_armed = true;
}

constexpr std::size_t class_of(std::size_t size) {
  return (size - 1) / class_size;
}
// Per-class caps, computed at compile time (a division on the free path
// costs more than the rest of it).
constexpr auto caps = [] {
  std::array<std::uint32_t, num_classes> a{};
  for (std::size_t c = 0; c < num_classes; ++c) {
    auto n = cap_bytes / ((c + 1) * class_size);
    a[c] = static_cast<std::uint32_t>(n < 64 ? 64 : n);
  }
  return a;
}();
constexpr std::uint32_t cap_of(std::size_t c) {
  return caps[c];
}

}  // namespace

void* block_alloc(std::size_t size) {
  if (size == 0) size = 1;
  auto c = class_of(size);
  if (c >= num_classes) {
    return ::operator new (size, std::align_val_t{block_align});
  }
  Cache& k = cache;
  if (FreeBlock* b = k.head[c]) {
    k.head[c] = b->next;
    --k.count[c];
    ++k.stats.hits;
    return b;
  }
  ++k.stats.misses;
  if (!k.reaper_armed) arm_reaper();
  return ::operator new ((c + 1) * class_size, std::align_val_t{block_align});
}

void block_free(void* p, std::size_t size) noexcept {
  if (p == nullptr) return;
  if (size == 0) size = 1;
  auto c = class_of(size);
  if (c >= num_classes) {
    ::operator delete (p, std::align_val_t{block_align});
    return;
  }
  Cache& k = cache;
  if (k.count[c] >= cap_of(c)) {
    ::operator delete (p, std::align_val_t{block_align});
    return;
  }
  if (!k.reaper_armed) arm_reaper();
  auto* b = static_cast<FreeBlock*>(p);
  b->next = k.head[c];
  k.head[c] = b;
  ++k.count[c];
}

BlockCacheStats block_cache_stats() noexcept {
  return cache.stats;
}

void block_cache_trim() noexcept {
  cache.trim();
}

}  // namespace duet::detail

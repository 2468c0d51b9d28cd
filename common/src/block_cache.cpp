#include "duet/detail/block_cache.hpp"

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

struct Cache {
  std::array<FreeBlock*, num_classes> head{};
  std::array<std::uint32_t, num_classes> count{};
  BlockCacheStats stats;
  void trim() noexcept {
    for (std::size_t c = 0; c < num_classes; ++c) {
      while (head[c] != nullptr) {
        FreeBlock* b = head[c];
        head[c] = b->next;
        ::operator delete(b, std::align_val_t{block_align});
      }
      count[c] = 0;
    }
  }
  ~Cache() { trim(); }
};

thread_local Cache cache;

constexpr std::size_t class_of(std::size_t size) { return (size - 1) / class_size; }
constexpr std::uint32_t cap_of(std::size_t c) {
  auto n = cap_bytes / ((c + 1) * class_size);
  return static_cast<std::uint32_t>(n < 64 ? 64 : n);
}

}  // namespace

void* block_alloc(std::size_t size) {
  if (size == 0) size = 1;
  auto c = class_of(size);
  if (c >= num_classes) {
    return ::operator new(size, std::align_val_t{block_align});
  }
  Cache& k = cache;
  if (FreeBlock* b = k.head[c]) {
    k.head[c] = b->next;
    --k.count[c];
    ++k.stats.hits;
    return b;
  }
  ++k.stats.misses;
  return ::operator new((c + 1) * class_size, std::align_val_t{block_align});
}

void block_free(void* p, std::size_t size) noexcept {
  if (p == nullptr) return;
  if (size == 0) size = 1;
  auto c = class_of(size);
  if (c >= num_classes) {
    ::operator delete(p, std::align_val_t{block_align});
    return;
  }
  Cache& k = cache;
  if (k.count[c] >= cap_of(c)) {
    ::operator delete(p, std::align_val_t{block_align});
    return;
  }
  auto* b = static_cast<FreeBlock*>(p);
  b->next = k.head[c];
  k.head[c] = b;
  ++k.count[c];
}

BlockCacheStats block_cache_stats() noexcept { return cache.stats; }

void block_cache_trim() noexcept { cache.trim(); }

}  // namespace duet::detail

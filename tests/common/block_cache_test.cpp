// The block cache (duet/detail/block_cache.hpp): blocks freed past a
// thread's cap go to the depot as whole chains and come back whole to
// whichever thread refills next; no block is ever handed out twice while
// live, within one thread and when one thread allocates what others free
// (the spawner / worker pattern). Each live block carries its owner's
// pattern: two live blocks that overlapped would corrupt each other's.
#include "duet/detail/block_cache.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "test_util.hpp"

using duet::detail::block_alloc;
using duet::detail::block_cache_stats;
using duet::detail::block_cache_trim;
using duet::detail::block_free;

namespace {

constexpr std::size_t kSize = 320;  // a coroutine task's class

void stamp(void* p, unsigned char v) {
  std::memset(p, v, kSize);
}
bool stamped(void* p, unsigned char v) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < kSize; ++i) {
    if (b[i] != v) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("block cache: blocks given back to the depot in chains come back distinct",
          "[block_cache]") {
  constexpr int n = 20'000;  // several caps' worth: give-backs and refills
  for (int round = 0; round < 3; ++round) {
    std::vector<void*> live;
    std::set<void*> seen;
    for (int i = 0; i < n; ++i) {
      void* p = block_alloc(kSize);
      REQUIRE(reinterpret_cast<std::uintptr_t>(p) % duet::detail::block_align == 0);
      REQUIRE(seen.insert(p).second);  // never handed out twice while live
      stamp(p, static_cast<unsigned char>(i));
      live.push_back(p);
    }
    for (int i = 0; i < n; ++i) REQUIRE(stamped(live[i], static_cast<unsigned char>(i)));
    for (void* p : live) block_free(p, kSize);
    if (round == 1) block_cache_trim();  // the whole list as one chain
  }
#if !defined(__SANITIZE_ADDRESS__)
  // Under ASan every block is its own heap allocation (block_cache.cpp): no
  // lists, no misses to count.
  CHECK(block_cache_stats().misses > 0);
#endif
}

TEST_CASE("block cache: one thread allocates what others free, each block live once",
          "[block_cache][stress]") {
  duet::test::Watchdog wd("block cache cross-thread");
  constexpr int freers = 3;
  const int rounds = duet::test::sanitized ? 4 : 20;
  constexpr int per_round = 6'000;
  std::mutex mu;
  std::vector<std::vector<void*>> inbox(freers);
  std::atomic<int> round_done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int f = 0; f < freers; ++f) {
    threads.emplace_back([&, f] {
      for (;;) {
        // Read before the inbox: once it is set, the inbox holds the last
        // round, and this swap takes it (nothing leaks).
        const bool last = stop.load();
        std::vector<void*> mine;
        {
          std::lock_guard g(mu);
          mine.swap(inbox[static_cast<std::size_t>(f)]);
        }
        for (void* p : mine) {
          stamp(p, 0xEE);  // the freer writes it last
          block_free(p, kSize);
        }
        if (last) break;
        if (mine.empty()) std::this_thread::yield();
      }
      block_cache_trim();
    });
  }
  for (int r = 0; r < rounds; ++r) {
    std::vector<void*> live;
    std::set<void*> seen;
    for (int i = 0; i < per_round; ++i) {
      void* p = block_alloc(kSize);
      REQUIRE(seen.insert(p).second);
      stamp(p, static_cast<unsigned char>(r + 1));
      live.push_back(p);
    }
    for (void* p : live) REQUIRE(stamped(p, static_cast<unsigned char>(r + 1)));
    std::lock_guard g(mu);
    for (std::size_t i = 0; i < live.size(); ++i) inbox[i % freers].push_back(live[i]);
    round_done = r + 1;
  }
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(round_done.load() == rounds);
}

TEST_CASE("block cache: 16-byte classes up to 256 B, 64-byte ones past it", "[block_cache]") {
  namespace blocks = duet::detail::blocks;
  // Every size falls in the smallest class that holds it, and classes step
  // by 16 bytes up to 256 (the smallest is 32: a free block's links) and by
  // 64 bytes past it, up to 4 KiB.
  for (std::size_t size = 1; size <= blocks::largest_block; ++size) {
    const std::size_t c = blocks::class_of(size);
    REQUIRE(c < blocks::num_classes);
    const std::size_t bytes = blocks::block_bytes(c);
    REQUIRE(bytes >= size);
    const std::size_t step = size <= blocks::fine_limit ? 16 : 64;
    REQUIRE(bytes - size < (bytes == 32 ? 32 : step));
  }
  CHECK(blocks::block_bytes(blocks::class_of(136)) == 144);
  CHECK(blocks::block_bytes(blocks::class_of(200)) == 208);
  CHECK(blocks::block_bytes(blocks::class_of(256)) == 256);
  CHECK(blocks::block_bytes(blocks::class_of(257)) == 320);
  CHECK(blocks::class_of(blocks::largest_block + 1) >= blocks::num_classes);
}

TEST_CASE("block cache: a block is aligned as its size asks, 64 for multiples of 64",
          "[block_cache]") {
  // Twice a slab's worth of each size, so that blocks from every position
  // in a slab are seen.
  for (std::size_t size : {24, 48, 96, 136, 144, 160, 192, 200, 256, 320, 1000, 4096}) {
    std::vector<void*> live;
    for (std::size_t i = 0; i < (std::size_t{512} << 10) / size; ++i) {
      void* p = block_alloc(size);
      const auto a = reinterpret_cast<std::uintptr_t>(p);
      INFO("size " << size);
      REQUIRE(a % 16 == 0);
      if (size % 64 == 0) REQUIRE(a % 64 == 0);
      if (size % 32 == 0) REQUIRE(a % 32 == 0);
      std::memset(p, 0x5A, size);
      live.push_back(p);
    }
    for (void* p : live) block_free(p, size);
  }
}

// memory_test.cpp: Runtime::memory_stats() (duet/memory.hpp) says what the block
// cache, the fiber stack pool and each worker's I/O driver hold: slabs
// carved per class as tasks of a new size run, chunks covering them, a
// fiber's stack counted while it runs, io_uring's rings and provided-buffer
// ring as configured (nothing for epoll), and I/O operations' blocks in
// power-of-two classes only.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <duet/duet.hpp>
#include <duet/memory.hpp>
#include <thread>
#include <vector>

#include "duet/detail/block_cache.hpp"
#include "io/op_memory.hpp"
#include "io_util.hpp"
#include "test_util.hpp"

namespace {

/// A coroutine whose frame holds `N` bytes of its own: a size class of its
/// own among the tests' frames.
template <std::size_t N>
duet::Task<int> sized() {
  std::array<unsigned char, N> pad{};
  pad[N - 1] = 1;
  co_await duet::yield_now();  // the array lives across a suspension: it is in the frame
  co_return pad[N - 1];
}

std::size_t slabs_of_at_least(const duet::MemoryStats& m, std::size_t bytes) {
  std::size_t n = 0;
  for (const auto& c : m.blocks.classes) n += c.block_bytes >= bytes ? c.slabs : 0;
  return n;
}

}  // namespace

TEST_CASE("Runtime::memory: the block cache's slabs, chunks and depot", "[memory]") {
  if (duet::test::sanitized) {
    DUET_SKIP("under a sanitizer every block is its own heap allocation: the cache holds nothing");
  }
  duet::test::Watchdog wd("memory: blocks");
  auto rt = duet::iotest::make_rt(duet::IoDriver::epoll, 2);
  const duet::MemoryStats before = rt->memory_stats();
  // 3,000 frames of a size no other test uses (about 3.5 KiB), alive at
  // once: more than one slab of their class.
  std::vector<duet::JoinHandle<int>> hs;
  for (int i = 0; i < 3000; ++i) hs.push_back(rt->spawn(sized<3500>()));
  int sum = 0;
  for (auto& h : hs) sum += h.join();
  CHECK(sum == 3000);
  const duet::MemoryStats after = rt->memory_stats();
  INFO("carved " << after.blocks.carved_bytes << ", chunks " << after.blocks.chunk_bytes);
  CHECK(slabs_of_at_least(after, 3500) >= slabs_of_at_least(before, 3500) + 2);
  CHECK(after.blocks.carved_bytes >= before.blocks.carved_bytes + 2 * 256 * 1024);
  // Slabs come out of chunks, whole.
  CHECK(after.blocks.chunk_bytes >= after.blocks.carved_bytes);
  CHECK(after.blocks.chunk_bytes % (2u << 20) == 0);
  CHECK(after.blocks.huge_chunks * (2u << 20) <= after.blocks.chunk_bytes);
  CHECK(after.blocks.depot_bytes <= after.blocks.carved_bytes);
  CHECK(after.blocks.thread_cap_bytes == 1u << 20);
  // Classes are listed once each, smallest first, in multiples of 64 bytes.
  for (std::size_t i = 0; i < after.blocks.classes.size(); ++i) {
    CHECK(after.blocks.classes[i].block_bytes % 64 == 0);
    CHECK(after.blocks.classes[i].slabs > 0);
    if (i > 0) CHECK(after.blocks.classes[i - 1].block_bytes < after.blocks.classes[i].block_bytes);
  }
}

TEST_CASE("set_block_cache_thread_cap: a thread past its cap moves blocks to the depot",
          "[memory]") {
  if (duet::test::sanitized) {
    DUET_SKIP("under a sanitizer every block is its own heap allocation: no cache, no cap");
  }
  // Blocks of a size no other test uses, freed by a thread whose cache
  // starts after the cap was set; the depot is read from that thread.
  constexpr std::size_t kSize = 3008, kBlocks = 200;
  const auto depot_gain_on_free = [](std::size_t cap) {
    std::size_t gain = 0, cap_seen = 0;
    std::thread t([&] {
      duet::set_block_cache_thread_cap(cap);
      std::vector<void*> bs;
      for (std::size_t i = 0; i < kBlocks; ++i) bs.push_back(duet::detail::block_alloc(kSize));
      const std::size_t before = duet::detail::block_memory().depot_bytes;
      for (void* b : bs) duet::detail::block_free(b, kSize);
      const duet::BlockMemory m = duet::detail::block_memory();
      gain = m.depot_bytes > before ? m.depot_bytes - before : 0;
      cap_seen = m.thread_cap_bytes;
    });
    t.join();
    duet::set_block_cache_thread_cap(1u << 20);  // the default, for the cases after
    CHECK(cap_seen == cap);
    return gain;
  };
  // 64 KiB: 21 blocks of the class kept, the rest to the depot.
  CHECK(depot_gain_on_free(64 * 1024) >= (kBlocks - 21) * kSize);
  // The default 1 MiB keeps all 200 in the thread's lists.
  CHECK(depot_gain_on_free(1u << 20) == 0);
}

TEST_CASE("Runtime::memory: a running fiber's stack is counted in the pool's figures", "[memory]") {
  duet::test::Watchdog wd("memory: stacks");
  auto rt = duet::iotest::make_rt(duet::IoDriver::epoll, 1);
  std::atomic<bool> running{false}, release{false};
  duet::StackMemory seen{};
  auto h = rt->spawn(duet::stackful, [&] {
    running = true;
    while (!release.load()) duet::this_fiber::yield();
  });
  while (!running.load()) std::this_thread::yield();
  seen = rt->memory_stats().stacks;
  release = true;
  h.join();
  CHECK(seen.in_use >= 1);
  CHECK(seen.mapped_stacks >= seen.in_use);
}

TEST_CASE("Runtime::memory: io_uring's rings and buffer ring per worker, nothing for epoll",
          "[memory]") {
  duet::test::Watchdog wd("memory: drivers");
  {
    auto rt = duet::iotest::make_rt(duet::IoDriver::epoll, 2);
    const auto m = rt->memory_stats();
    REQUIRE(m.drivers.size() == 2);
    for (const auto& d : m.drivers) {
      CHECK(d.ring_bytes == 0);
      CHECK(d.buffer_ring_bytes == 0);
      CHECK(d.buffers == 0);
    }
  }
  if (!duet::iotest::driver_available(duet::IoDriver::io_uring)) {
    DUET_SKIP("io_uring is not available on this kernel: only epoll checked");
  }
  ::unsetenv("DUET_DRIVER");
  duet::RuntimeConfig cfg;
  cfg.workers = 2;
  cfg.placement = duet::Placement::none;
  cfg.io_driver = duet::IoDriver::io_uring;
  cfg.io_recv_buffers = 64;
  cfg.io_recv_buffer_size = 2048;
  duet::Runtime rt(cfg);
  const auto m = rt.memory_stats();
  REQUIRE(m.drivers.size() == 2);
  for (const auto& d : m.drivers) {
    CHECK(d.ring_bytes > 0);
    if (duet::io::uring_features().recv_multishot) {
      CHECK(d.buffers == 64);
      CHECK(d.buffer_size == 2048);
      CHECK(d.buffer_ring_bytes >= 64u * 2048u);
    } else {
      CHECK(d.buffers == 0);
    }
  }
}

TEST_CASE("I/O operations' blocks come in power-of-two classes", "[memory]") {
  // An operation's block carries its buffer; with a class per 64 bytes, a
  // server sending messages of every size carved a slab for each of 64
  // classes on each worker (docs/performance-log.md, "I/O blocks in
  // power-of-two classes").
  for (std::size_t size : {1u, 64u, 65u, 100u, 1000u, 1025u, 4000u, 4096u}) {
    const std::size_t b = duet::io::detail::op_block_bytes(size);
    CHECK(b >= size);
    CHECK(b >= 64);
    CHECK((b & (b - 1)) == 0);
    CHECK(b < 2 * std::max<std::size_t>(size, 64));
  }
}

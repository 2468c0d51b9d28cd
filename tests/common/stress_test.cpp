// A million tasks, both backends, spawned from inside and outside on two
// workers: each runs exactly once, every result arrives, nothing leaks.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "alloc_tracker.hpp"
#include "test_util.hpp"

namespace {
constexpr int total = duet::test::sanitized ? 100000 : 1000000;

duet::Task<int> bump(std::atomic<std::uint8_t>* slot, int i) {
  slot->fetch_add(1, std::memory_order_relaxed);
  co_return i;
}

// Spawns tasks [from, to) from inside the runtime, alternating backends,
// in batches so the number of live handles stays bounded.
duet::Task<long> spawner(duet::Runtime& rt, std::atomic<std::uint8_t>* runs, int from, int to) {
  long sum = 0;
  std::vector<duet::JoinHandle<int>> hs;
  const int batch = 4096;
  for (int base = from; base < to; base += batch) {
    hs.clear();
    for (int i = base; i < std::min(to, base + batch); ++i) {
      if (i % 2 == 0) {
        hs.push_back(duet::spawn(bump(&runs[i], i)));
      } else {
        hs.push_back(rt.spawn(duet::stackful, [slot = &runs[i], i] {
          slot->fetch_add(1, std::memory_order_relaxed);
          return i;
        }));
      }
    }
    for (auto& h : hs) sum += co_await h;
  }
  co_return sum;
}
}  // namespace

TEST_CASE("a million mixed tasks from inside and outside run exactly once", "[stress][slow]") {
  duet::test::Watchdog wd("million tasks", std::chrono::seconds(280));
  auto runs = std::make_unique<std::atomic<std::uint8_t>[]>(total);
  auto live_before = duet::test::alloc_counts().live();
  long sum = 0;
  {
    duet::Runtime rt({.workers = 2, .fiber_stack_size = 16 * 1024});
    const int half = total / 2;
    // Inside: a coroutine spawns the first half.
    auto inside = rt.spawn(spawner(rt, runs.get(), 0, half));
    // Outside: main spawns the second half through the injector, in batches.
    std::vector<duet::JoinHandle<int>> hs;
    const int batch = 4096;
    for (int base = half; base < total; base += batch) {
      hs.clear();
      for (int i = base; i < std::min(total, base + batch); ++i) {
        if (i % 2 == 0) {
          hs.push_back(rt.spawn(bump(&runs[i], i)));
        } else {
          hs.push_back(rt.spawn(duet::stackful, [slot = &runs[i], i] {
            slot->fetch_add(1, std::memory_order_relaxed);
            return i;
          }));
        }
      }
      for (auto& h : hs) sum += h.join();
    }
    sum += inside.join();
  }
  long expect = static_cast<long>(total) * (total - 1) / 2;
  CHECK(sum == expect);
  int bad = 0;
  for (int i = 0; i < total; ++i) bad += runs[i].load() != 1;
  CHECK(bad == 0);
  if (duet::test::alloc_tracking_enabled()) {
    duet::detail::block_cache_trim();
    // Process-wide pools (stack buckets) may have been created here.
    CHECK(duet::test::alloc_counts().live() - live_before < 64);
  }
}

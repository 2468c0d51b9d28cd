// LocalQueue: FIFO order, overflow of half to the injector, stealing half,
// and a concurrent stress where every task must be seen exactly once.
#include "sched/local_queue.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "fake_task.hpp"
#include "sched/injector.hpp"

using duet::detail::Injector;
using duet::detail::LocalQueue;
using duet::detail::TaskHeader;

using duet::test::id_of;
using duet::test::Tasks;

namespace {
Tasks make(int n) {
  return Tasks(n);
}
}  // namespace

TEST_CASE("LocalQueue pops in FIFO order", "[local_queue]") {
  Injector inj;
  LocalQueue q(8);
  auto ts = make(8);
  for (auto& t : ts.v) REQUIRE_FALSE(q.push_back_or_overflow(t.get(), inj));
  REQUIRE(q.len() == 8);
  for (int i = 0; i < 8; ++i) REQUIRE(id_of(q.pop()) == i);
  REQUIRE(q.pop() == nullptr);
  REQUIRE(inj.is_empty());
}

TEST_CASE("LocalQueue overflow moves half plus the new task to the injector", "[local_queue]") {
  Injector inj;
  LocalQueue q(4);
  auto ts = make(5);
  for (int i = 0; i < 4; ++i) REQUIRE_FALSE(q.push_back_or_overflow(&ts[i], inj));
  REQUIRE(q.push_back_or_overflow(&ts[4], inj));
  REQUIRE(q.len() == 2);
  REQUIRE(inj.len() == 3);
  // The oldest half went out first, then the new task: FIFO is kept.
  REQUIRE(id_of(inj.pop()) == 0);
  REQUIRE(id_of(inj.pop()) == 1);
  REQUIRE(id_of(inj.pop()) == 4);
  REQUIRE(id_of(q.pop()) == 2);
  REQUIRE(id_of(q.pop()) == 3);
}

TEST_CASE("LocalQueue steal takes half, rounded up", "[local_queue]") {
  Injector inj;
  LocalQueue victim(16), thief(16);
  auto ts = make(7);
  for (auto& t : ts.v) victim.push_back_or_overflow(t.get(), inj);
  std::uint64_t stolen = 0;
  TaskHeader* first = victim.steal_into(thief, stolen);
  REQUIRE(first != nullptr);
  REQUIRE(stolen == 4);
  REQUIRE(victim.len() == 3);
  REQUIRE(thief.len() == 3);  // one of the four is returned to run
  REQUIRE(id_of(victim.pop()) == 4);
}

TEST_CASE("LocalQueue: owner and thieves race, each task seen exactly once",
          "[local_queue][stress]") {
  for (std::uint32_t cap : {4u, 256u}) {
    const int n = 200000;
    Injector inj;
    LocalQueue owner(cap);
    LocalQueue t1q(cap), t2q(cap);
    auto ts = make(n);
    std::vector<std::atomic<int>> seen(static_cast<std::size_t>(n));
    std::atomic<bool> done{false};
    auto mark = [&](TaskHeader* t) { seen[static_cast<std::size_t>(id_of(t))].fetch_add(1); };
    auto thief = [&](LocalQueue& mine) {
      std::uint64_t stolen = 0;
      while (!done.load(std::memory_order_acquire) || !owner.is_empty()) {
        if (TaskHeader* t = owner.steal_into(mine, stolen)) {
          mark(t);
          while (TaskHeader* x = mine.pop()) mark(x);
        }
      }
    };
    std::thread a(thief, std::ref(t1q)), b(thief, std::ref(t2q));
    for (int i = 0; i < n; ++i) {
      owner.push_back_or_overflow(&ts[static_cast<std::size_t>(i)], inj);
      if (i % 3 == 0) {
        if (TaskHeader* t = owner.pop()) mark(t);
      }
    }
    while (TaskHeader* t = owner.pop()) mark(t);
    done.store(true, std::memory_order_release);
    a.join();
    b.join();
    while (TaskHeader* t = inj.pop()) mark(t);
    for (int i = 0; i < n; ++i) REQUIRE(seen[static_cast<std::size_t>(i)].load() == 1);
  }
}

// OwnedTasks: insert/remove in any order on every shard count, pop_any
// draining everything exactly once (what shutdown does), for_each seeing
// each listed task once (what a dump does), and threads inserting and
// removing concurrently on shared shards.
#include "sched/owned_tasks.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "fake_task.hpp"
#include "test_util.hpp"

using duet::detail::OwnedTasks;
using duet::detail::TaskHeader;
using duet::test::id_of;
using duet::test::Tasks;

namespace {

std::multiset<int> listed(OwnedTasks& o) {
  std::multiset<int> ids;
  o.for_each([&](TaskHeader* t) { ids.insert(id_of(t)); });
  return ids;
}

}  // namespace

TEST_CASE("OwnedTasks: insert, remove in any order, drain", "[owned_tasks]") {
  for (unsigned shards : {0u, 1u, 3u, 8u}) {
    INFO(shards << " shards (hint)");
    OwnedTasks o(shards);
    CHECK(o.pop_any() == nullptr);
    Tasks ts(64);
    for (auto& t : ts.v) o.insert(t.get());
    CHECK(listed(o).size() == 64);
    // Remove the heads, the tails and the middles of the shard lists.
    std::vector<std::size_t> order(64);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(static_cast<unsigned>(shards) + 1));
    for (std::size_t i = 0; i < 32; ++i) o.remove(&ts[order[i]]);
    auto rest = listed(o);
    CHECK(rest.size() == 32);
    for (std::size_t i = 0; i < 32; ++i) {
      CHECK(rest.count(static_cast<int>(order[i])) == 0);
      CHECK(rest.count(static_cast<int>(order[32 + i])) == 1);
    }
    // A removed task can be listed again.
    o.insert(&ts[order[0]]);
    CHECK(listed(o).count(static_cast<int>(order[0])) == 1);
    // pop_any drains every listed task exactly once.
    std::multiset<int> drained;
    while (TaskHeader* t = o.pop_any()) {
      CHECK(t->owned_next == nullptr);
      CHECK(t->owned_prev == nullptr);
      drained.insert(id_of(t));
    }
    CHECK(drained.size() == 33);
    CHECK(std::adjacent_find(drained.begin(), drained.end()) == drained.end());
    CHECK(listed(o).empty());
  }
}

TEST_CASE("OwnedTasks: threads insert and remove on shared shards", "[owned_tasks][stress]") {
  duet::test::Watchdog wd("owned tasks stress");
  constexpr int threads = 4;
  const int per = duet::test::sanitized ? 2'000 : 20'000;
  OwnedTasks o(2);  // fewer shards than threads: the locks are contended
  Tasks ts(threads * per);
  std::vector<std::thread> th;
  for (int k = 0; k < threads; ++k) {
    th.emplace_back([&, k] {
      // Each thread lists its tasks and unlists every other one, at once
      // or a little later, so lists are cut everywhere while others insert.
      for (int i = 0; i < per; ++i) {
        auto* t = &ts[static_cast<std::size_t>(k * per + i)];
        o.insert(t);
        if (i % 2 == 1) o.remove(&ts[static_cast<std::size_t>(k * per + i - 1)]);
      }
    });
  }
  for (auto& t : th) t.join();
  auto rest = listed(o);
  CHECK(rest.size() == static_cast<std::size_t>(threads * per / 2));
  for (int id : rest) CHECK(id % 2 == 1);
  std::size_t drained = 0;
  while (o.pop_any() != nullptr) ++drained;
  CHECK(drained == rest.size());
}

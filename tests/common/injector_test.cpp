// Injector: FIFO order across single and batch pushes, batch pops that stop
// at `max`, the empty queue, growth past the first ring, the spill list that
// takes tasks when the ring cannot grow (FIFO kept across ring and spill),
// and many producers with one consumer where every task must come out
// exactly once and each producer's order is kept.
#include "sched/injector.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "fake_task.hpp"
#include "test_util.hpp"

using duet::detail::Injector;
using duet::detail::TaskHeader;
using duet::test::id_of;
using duet::test::Tasks;

namespace {

/// Pushes ts[from..to) as one batch.
void push_range(Injector& inj, Tasks& ts, std::size_t from, std::size_t to) {
  inj.push_n(to - from, [&](std::size_t i) { return &ts[from + i]; });
}

/// Pops everything, in batches of `batch`, as ids.
std::vector<int> drain(Injector& inj, std::size_t batch) {
  std::vector<int> ids;
  std::vector<TaskHeader*> buf(batch);
  while (std::size_t n = inj.pop_batch(buf.data(), batch)) {
    for (std::size_t i = 0; i < n; ++i) ids.push_back(id_of(buf[i]));
  }
  return ids;
}

std::vector<int> iota(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("Injector: empty, then FIFO across single and batch pushes", "[injector]") {
  Injector inj;
  REQUIRE(inj.is_empty());
  REQUIRE(inj.len() == 0);
  REQUIRE(inj.pop() == nullptr);
  TaskHeader* out[4] = {};
  REQUIRE(inj.pop_batch(out, 4) == 0);

  Tasks ts(6);
  inj.push(&ts[0]);
  push_range(inj, ts, 1, 4);
  inj.push(&ts[4]);
  inj.push(&ts[5]);
  REQUIRE_FALSE(inj.is_empty());
  REQUIRE(inj.len() == 6);
  for (int i = 0; i < 6; ++i) {
    TaskHeader* t = inj.pop();
    REQUIRE(t != nullptr);
    REQUIRE(id_of(t) == i);
    REQUIRE(inj.len() == static_cast<std::size_t>(5 - i));
  }
  REQUIRE(inj.is_empty());
  REQUIRE(inj.pop() == nullptr);
}

TEST_CASE("Injector: pop_batch takes at most max, oldest first", "[injector]") {
  Injector inj;
  Tasks ts(10);
  push_range(inj, ts, 0, 10);
  TaskHeader* out[16] = {};
  REQUIRE(inj.pop_batch(out, 4) == 4);
  for (int i = 0; i < 4; ++i) REQUIRE(id_of(out[i]) == i);
  REQUIRE(inj.len() == 6);
  REQUIRE(inj.pop_batch(out, 16) == 6);  // more than there is: the rest
  REQUIRE(id_of(out[0]) == 4);
  REQUIRE(id_of(out[5]) == 9);
  REQUIRE(inj.is_empty());
  // Usable again after it was drained, across the ring's wrap.
  for (int round = 0; round < 3; ++round) {
    push_range(inj, ts, 0, 7);
    REQUIRE(drain(inj, 3) == iota(7));
  }
}

TEST_CASE("Injector: the ring grows past its first size and keeps the order across the wrap",
          "[injector]") {
  Injector inj(8);
  Tasks ts(100);
  push_range(inj, ts, 0, 5);
  TaskHeader* out[4] = {};
  REQUIRE(inj.pop_batch(out, 3) == 3);  // the ring's head moves: the next pushes wrap
  push_range(inj, ts, 5, 60);           // grows 8 -> 64 while wrapped
  for (std::size_t i = 60; i < 100; ++i) inj.push(&ts[i]);  // and again, one at a time
  REQUIRE(inj.len() == 97);
  auto ids = drain(inj, 7);
  std::vector<int> want;
  for (int i = 3; i < 100; ++i) want.push_back(i);
  REQUIRE(ids == want);
}

TEST_CASE("Injector: a ring grown by a flood goes back to its first size once empty",
          "[injector]") {
  Injector inj(8);
  Tasks ts(4096);
  push_range(inj, ts, 0, 4096);  // 8 -> 4096 slots
  REQUIRE(inj.capacity() == 4096);
  std::vector<int> want;
  for (int i = 0; i < 4096; ++i) want.push_back(i);
  REQUIRE(drain(inj, 100) == want);
  CHECK(inj.capacity() == 8);
  // A ring that fills and empties at a size short of the factor keeps it.
  push_range(inj, ts, 0, 8 * Injector::shrink_factor / 2);
  const std::size_t steady = inj.capacity();
  REQUIRE(steady == 8 * Injector::shrink_factor / 2);
  (void)drain(inj, 100);
  CHECK(inj.capacity() == steady);
}

TEST_CASE("Injector: a ring that cannot grow spills into the intrusive list and loses nothing",
          "[injector]") {
  Injector inj(8, 8);  // never grows: the ninth task spills
  Tasks ts(40);
  push_range(inj, ts, 0, 6);
  push_range(inj, ts, 6, 12);  // 8 in the ring is the limit: this batch goes to the spill
  REQUIRE(inj.len() == 12);
  TaskHeader* out[4] = {};
  REQUIRE(inj.pop_batch(out, 4) == 4);  // from the ring
  // The spill holds tasks: later pushes follow them, even with ring room.
  for (std::size_t i = 12; i < 20; ++i) inj.push(&ts[i]);
  REQUIRE(inj.len() == 16);
  std::vector<int> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(id_of(out[i]));
  for (int id : drain(inj, 5)) ids.push_back(id);
  REQUIRE(ids == iota(20));
  // With the spill drained the ring takes tasks again.
  push_range(inj, ts, 20, 28);
  REQUIRE(drain(inj, 8) == std::vector<int>{20, 21, 22, 23, 24, 25, 26, 27});
  REQUIRE(inj.is_empty());
}

TEST_CASE("Injector: producers race a batch consumer, each task once, per-producer order",
          "[injector][stress]") {
  duet::test::Watchdog wd("injector stress");
  constexpr int producers = 4;
  const int per = duet::test::sanitized ? 5'000 : 50'000;
  Tasks ts(producers * per);  // producer p pushes ids p*per .. p*per+per-1
  Injector inj(16, 1024);     // small: the race covers growth and the spill too
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per; ++i) {
        const auto k = static_cast<std::size_t>(p * per + i);
        if (i % 5 == 0 && i + 3 <= per) {  // now and then a batch of three
          push_range(inj, ts, k, k + 3);
          i += 2;
        } else {
          inj.push(&ts[k]);
        }
      }
    });
  }
  std::vector<int> seen(ts.size(), 0);
  std::vector<int> last(producers, -1);
  std::size_t got = 0;
  bool ordered = true;
  TaskHeader* out[8] = {};
  while (got < ts.size()) {
    const std::size_t n = inj.pop_batch(out, 8);
    for (std::size_t i = 0; i < n; ++i) {
      const int id = id_of(out[i]);
      ++seen[static_cast<std::size_t>(id)];
      ordered = ordered && id > last[static_cast<std::size_t>(id / per)];
      last[static_cast<std::size_t>(id / per)] = id;
      ++got;
    }
  }
  for (auto& t : threads) t.join();
  CHECK(ordered);
  CHECK(inj.is_empty());
  for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == 1);
}

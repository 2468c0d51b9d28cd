// Injector: FIFO order across single and batch pushes, batch pops that stop
// at `max`, the empty queue, and many producers with one consumer where
// every task must come out exactly once and each producer's order is kept.
#include "injector.hpp"

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

/// Links ts[from..to) into a chain through TaskHeader::next.
void chain(Tasks& ts, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i + 1 < to; ++i) ts[i].next = &ts[i + 1];
}

}  // namespace

TEST_CASE("Injector: empty, then FIFO across single and batch pushes", "[injector]") {
  Injector inj;
  REQUIRE(inj.is_empty());
  REQUIRE(inj.len() == 0);
  REQUIRE(inj.pop() == nullptr);
  std::size_t n = 7;
  REQUIRE(inj.pop_batch(4, n) == nullptr);
  REQUIRE(n == 0);

  Tasks ts(6);
  inj.push(&ts[0]);
  chain(ts, 1, 4);
  inj.push_batch(&ts[1], &ts[3], 3);
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

TEST_CASE("Injector: pop_batch takes at most max, as a terminated chain", "[injector]") {
  Injector inj;
  Tasks ts(10);
  chain(ts, 0, 10);
  inj.push_batch(&ts[0], &ts[9], 10);
  std::size_t n = 0;
  TaskHeader* head = inj.pop_batch(4, n);
  REQUIRE(n == 4);
  int expect = 0;
  for (TaskHeader* t = head; t != nullptr; t = t->next) REQUIRE(id_of(t) == expect++);
  REQUIRE(expect == 4);  // the chain ends after four
  REQUIRE(inj.len() == 6);
  head = inj.pop_batch(100, n);  // more than there is: the rest
  REQUIRE(n == 6);
  REQUIRE(id_of(head) == 4);
  REQUIRE(inj.is_empty());
  // The queue is usable again after it was drained (tail reset).
  inj.push(&ts[0]);
  REQUIRE(id_of(inj.pop()) == 0);
}

TEST_CASE("Injector: producers race a batch consumer, each task once, per-producer order",
          "[injector][stress]") {
  duet::test::Watchdog wd("injector stress");
  constexpr int producers = 4;
  const int per = duet::test::sanitized ? 5'000 : 50'000;
  Tasks ts(producers * per);  // producer p pushes ids p*per .. p*per+per-1
  Injector inj;
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per; ++i) {
        const auto k = static_cast<std::size_t>(p * per + i);
        if (i % 5 == 0 && i + 3 <= per) {  // now and then a batch of three
          chain(ts, k, k + 3);
          inj.push_batch(&ts[k], &ts[k + 2], 3);
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
  while (got < ts.size()) {
    std::size_t n = 0;
    for (TaskHeader* t = inj.pop_batch(8, n); t != nullptr;) {
      TaskHeader* next = t->next;  // read before anything reuses the link
      const int id = id_of(t);
      ++seen[static_cast<std::size_t>(id)];
      ordered = ordered && id > last[static_cast<std::size_t>(id / per)];
      last[static_cast<std::size_t>(id / per)] = id;
      ++got;
      t = next;
    }
  }
  for (auto& t : threads) t.join();
  CHECK(ordered);
  CHECK(inj.is_empty());
  for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == 1);
}

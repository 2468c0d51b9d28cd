// local_queue_explorer_test.cpp: the owner's push and pop racing a thief's
// steal on a 4-slot LocalQueue, in every interleaving of their atomic
// operations (tests/support/explorer.hpp over BasicLocalQueue with explored
// atomics, slots included). Each case checks that every task is found
// exactly once: popped by the owner, run by the thief, left in either ring,
// or moved to the injector by an overflow.
#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "explored.hpp"
#include "explorer.hpp"
#include "fake_task.hpp"
#include "sched/local_queue.hpp"

using duet::detail::BasicLocalQueue;
using duet::detail::TaskHeader;
using duet::test::ExploredAtomics;
using duet::test::Explorer;
using duet::test::id_of;
using duet::test::require_explored;
using duet::test::Tasks;

namespace {

using Queue = BasicLocalQueue<ExploredAtomics>;

/// The injector an overflow goes to: it records what it received.
struct ModelInjector {
  std::vector<TaskHeader*> got;
  void push(TaskHeader* t) { got.push_back(t); }
  template <class At>
  void push_n(std::size_t n, At&& at) {
    for (std::size_t i = 0; i < n; ++i) got.push_back(at(i));
  }
};

struct World {
  explicit World(int n) : tasks(n) {}
  Tasks tasks;
  Queue owner{4};
  Queue thief{4};
  ModelInjector inj;
  std::vector<TaskHeader*> seen;  // popped by the owner or run by the thief
};

/// After the threads: drain both rings, then each task must appear once.
void expect_each_once(World& w, int pushed) {
  while (TaskHeader* t = w.owner.pop()) w.seen.push_back(t);
  while (TaskHeader* t = w.thief.pop()) w.seen.push_back(t);
  for (TaskHeader* t : w.inj.got) w.seen.push_back(t);
  std::vector<int> count(static_cast<std::size_t>(pushed), 0);
  for (TaskHeader* t : w.seen) {
    if (t == nullptr) {
      Explorer::fail("a null task came out of the queue");
      return;
    }
    ++count[static_cast<std::size_t>(id_of(t))];
  }
  for (int c : count) {
    if (c == 0) Explorer::fail("a task was lost");
    if (c > 1) Explorer::fail("a task came out twice");
  }
}

/// A thief's whole turn: steal half into its own ring, run one.
void steal(World& w) {
  std::uint64_t stolen = 0;
  if (TaskHeader* t = w.owner.steal_into(w.thief, stolen)) w.seen.push_back(t);
}

}  // namespace

TEST_CASE("explored: the owner pops while a thief steals half", "[local_queue][explorer][slow]") {
  // Two queued: both may go for the same slot.
  auto r = Explorer::explore([] {
    auto w = std::make_shared<World>(2);
    for (int i = 0; i < 2; ++i) (void)w->owner.push_back_or_overflow(&w->tasks[i], w->inj);
    return Explorer::Case{{[w] {
                             if (TaskHeader* t = w->owner.pop()) w->seen.push_back(t);
                           },
                           [w] { steal(*w); }},
                          [w] { expect_each_once(*w, 2); }};
  });
  require_explored(r, 20);
}

TEST_CASE("explored: the owner pushes while a thief copies out", "[local_queue][explorer][slow]") {
  // Three queued in four slots: the thief claims two while the owner's push
  // takes the last free slot.
  auto r = Explorer::explore([] {
    auto w = std::make_shared<World>(4);
    for (int i = 0; i < 3; ++i) (void)w->owner.push_back_or_overflow(&w->tasks[i], w->inj);
    return Explorer::Case{
        {[w] { (void)w->owner.push_back_or_overflow(&w->tasks[3], w->inj); }, [w] { steal(*w); }},
        [w] { expect_each_once(*w, 4); }};
  });
  require_explored(r, 100);
}

TEST_CASE("explored: an overflow to the injector racing a steal", "[local_queue][explorer][slow]") {
  // Full ring: the push goes to the injector while the thief copies, or
  // claims half for an overflow against the thief's claim. A capacity check
  // counted from the new front instead of the thief's end overwrites a slot
  // being copied: with that mutation this case reports "a task was lost".
  auto r = Explorer::explore([] {
    auto w = std::make_shared<World>(5);
    for (int i = 0; i < 4; ++i) (void)w->owner.push_back_or_overflow(&w->tasks[i], w->inj);
    return Explorer::Case{
        {[w] { (void)w->owner.push_back_or_overflow(&w->tasks[4], w->inj); }, [w] { steal(*w); }},
        [w] { expect_each_once(*w, 5); }};
  });
  require_explored(r, 20);
}

// lane_explorer_test.cpp: a task scope's owner lane (scope/owner_lane.hpp)
// with its owner's put, hold and release racing a closer's close, in every
// interleaving of their atomic operations (tests/support/explorer.hpp over
// BasicOwnerLane with explored atomics; the closer's fence is a point, as
// the explorer's schedules are sequentially consistent). Each case checks
// that the lane child is settled exactly once: taken by the owner's run in
// place, watched by the closer, or settled by the owner under the lock
// (modelled after the threads: the lock makes the owner's settle wait for
// the closer's whole close), and that the owner never runs a child the
// closer watched.
#include <catch2/catch.hpp>

#include <cstddef>
#include <memory>

#include "explored.hpp"
#include "explorer.hpp"
#include "scope/owner_lane.hpp"

using duet::detail::BasicOwnerLane;
using duet::detail::TaskHeader;
using duet::test::ExploredAtomics;
using duet::test::Explorer;
using duet::test::require_explored;

namespace {

using Lane = BasicOwnerLane<ExploredAtomics>;

struct World {
  // Only the child's address is used: a task header's alignment, no task.
  alignas(64) std::byte storage[64];
  TaskHeader* const child = reinterpret_cast<TaskHeader*>(storage);
  Lane lane{true};
  // The owner's side.
  bool owner_ran = false;      // hold() succeeded: it ran the child in place
  bool owner_took = false;     // release() succeeded: taken with no lock
  bool owner_settles = false;  // a false from the lane: it settles under the lock
  bool settle_after_run = false;
  // The closer's side.
  TaskHeader* stolen = nullptr;  // it watched the child
  bool saw_held = false;
};

/// The owner under the lock, after the closer's close (scope/task_scope.cpp:
/// settle_lane_locked, or end_window_locked after a window).
int owner_settle(World& w) {
  if (!w.owner_settles) return 0;
  if (w.settle_after_run) return 1;  // its window ended: it takes the child it ran
  const std::uintptr_t word = w.lane.word();
  if (word == 0) return 0;
  if ((word & Lane::held) != 0) {
    Explorer::fail("the lane is held outside a window");
    return 0;
  }
  return Lane::task(word) == w.stolen ? 0 : 1;  // watched by the closer, or by us now
}

void check(World& w) {
  int settled = (w.owner_took ? 1 : 0) + (w.stolen == w.child ? 1 : 0) + owner_settle(w);
  if (settled == 0) Explorer::fail("the lane child was lost");
  if (settled > 1) Explorer::fail("the lane child was settled twice");
  if (w.owner_ran && w.stolen == w.child)
    Explorer::fail("the owner ran a child the closer watched");
  // A closer that saw the child held left it to the owner (a cancel it
  // made then is applied by the owner's settle): the owner must settle it.
  if (w.saw_held && !w.owner_took && !w.owner_settles) Explorer::fail("a held child was left");
}

void closer(World& w) {
  const std::uintptr_t word = w.lane.close([] { Explorer::point("fence"); });
  if (word == 0) return;
  if ((word & Lane::held) != 0) {
    w.saw_held = true;
  } else {
    w.stolen = Lane::task(word);
  }
}

/// The owner's spawn+next of one child, up to the first false.
void owner_spawn_next(World& w, bool completes) {
  if (!w.lane.put(w.child)) {
    w.owner_settles = true;
    return;
  }
  const std::uintptr_t word = w.lane.word();
  if (!w.lane.hold(word)) {
    w.owner_settles = true;
    return;
  }
  w.owner_ran = true;
  if (completes && w.lane.release()) {
    w.owner_took = true;
    return;
  }
  w.owner_settles = true;
  w.settle_after_run = true;
}

Explorer::Case spawn_next_case(bool completes) {
  auto w = std::make_shared<World>();
  return Explorer::Case{{[w, completes] { owner_spawn_next(*w, completes); }, [w] { closer(*w); }},
                        [w] { check(*w); }};
}

}  // namespace

TEST_CASE("explored: the owner's spawn and next race a closer", "[scope][explorer]") {
  require_explored(Explorer::explore([] { return spawn_next_case(true); }), 20);
}

TEST_CASE("explored: the owner's run that does not complete races a closer", "[scope][explorer]") {
  require_explored(Explorer::explore([] { return spawn_next_case(false); }), 15);
}

TEST_CASE("explored: a child put in the lane alone races a closer", "[scope][explorer]") {
  auto r = Explorer::explore([] {
    auto w = std::make_shared<World>();
    return Explorer::Case{{[w] {
                             if (!w->lane.put(w->child)) w->owner_settles = true;
                           },
                           [w] { closer(*w); }},
                          [w] {
                            // The closer always closes: the child is watched by
                            // it, or by the owner, which saw the gate.
                            const int settled = (w->stolen == w->child ? 1 : 0) + owner_settle(*w);
                            if (settled != 1) Explorer::fail("the lane child was not settled once");
                          }};
  });
  require_explored(r, 6);
}

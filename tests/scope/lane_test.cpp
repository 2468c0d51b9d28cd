// The owner's lane of a TaskScope (common/src/scope/task_scope.cpp): the
// owner's newest child stays unwatched, in a word only the owner writes,
// and anyone else who must see it (an await, a close or a cancel from
// another task or thread) closes the lane first. Each case below hangs or
// loses a child when the closer misses the lane child (the watchdog turns
// a hang into a failure), and the stress cases race the closer against the
// owner's spawn+next loop, one closing per scope, many scopes.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "duet/duet.hpp"
#include "test_util.hpp"

namespace lanetest {

duet::Task<int> parked_until(duet::Notify* gate, int v) {
  co_await gate->notified();
  co_return v;
}

duet::Task<int> value(int v) {
  co_return v;
}

duet::Task<int> yielding(int v) {
  co_await duet::yield_now();
  co_return v;
}

/// Another task's cancel() reaches the owner's lane child, which is parked
/// and would otherwise never finish.
duet::Task<bool> cancel_from_another_task(duet::Runtime& rt, bool fiber_child) {
  duet::Notify never;
  duet::TaskScope<int> scope(rt);
  if (fiber_child) {
    scope.spawn(duet::stackful, [&never] {
      duet::wait(never.notified());
      return 1;
    });
  } else {
    scope.spawn(parked_until(&never, 1));
  }
  co_await rt.spawn([](duet::TaskScope<int>* s) -> duet::Task<void> {
    s->cancel();
    co_return;
  }(&scope));
  auto out = co_await scope.next();
  if (!out) co_return false;
  try {
    (void)out->take();
    co_return false;
  } catch (const duet::Cancelled&) {
  }
  co_return scope.size() == 0;
}

/// Another task collects the owner's children with next(): the lane child
/// the owner left unwatched must wake it.
duet::Task<int> collect(duet::TaskScope<int>* s, int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) {
    auto out = co_await s->next();
    if (!out) co_return -1;
    sum += out->take();
  }
  co_return sum;
}

duet::Task<int> another_task_collects(duet::Runtime& rt) {
  duet::TaskScope<int> scope(rt);
  scope.spawn(value(5));  // the lane child, not run yet
  co_return co_await rt.spawn(collect(&scope, 1));
}

/// The owner's spawn+next loop, while a plain thread closes the lane once
/// at a moment of its own: every child is accounted for, as a value or as
/// a cancellation, and nothing hangs.
struct Round {
  std::atomic<duet::TaskScope<int>*> scope{nullptr};
  std::atomic<bool> closed{false};
};

duet::Task<int> owner_loop(duet::Runtime& rt, Round* r, int n, bool await_round) {
  duet::TaskScope<int> scope(rt);
  r->scope.store(&scope);
  int accounted = 0;
  for (int i = 0; i < n; ++i) {
    if (i % 3 == 0) {
      scope.spawn(yielding(1));  // not complete after its inline run
    } else {
      scope.spawn(value(1));
    }
    if (!await_round) {
      auto out = co_await scope.next();
      if (out) ++accounted;
    }
  }
  // The closer may still be in its close: the scope outlives it.
  while (!r->closed.load()) co_await duet::yield_now();
  if (!await_round) {
    while (co_await scope.next()) ++accounted;  // empty once no child is left
  }
  r->scope.store(nullptr);
  co_return accounted;
}

}  // namespace lanetest

using namespace lanetest;

TEST_CASE("scope lane: a cancel from another task reaches the owner's unwatched child") {
  duet::test::Watchdog wd("scope lane cancel");
  duet::Runtime rt(duet::test::cpu_only_config(2));
  for (int round = 0; round < 10; ++round) {
    CHECK(rt.block_on(cancel_from_another_task(rt, false)));
    CHECK(rt.block_on(cancel_from_another_task(rt, true)));
  }
}

TEST_CASE("scope lane: another task awaiting the scope is woken by the owner's unwatched child") {
  duet::test::Watchdog wd("scope lane waiter");
  for (unsigned workers : {1u, 2u}) {
    duet::Runtime rt(duet::test::cpu_only_config(workers));
    for (int round = 0; round < 20; ++round) CHECK(rt.block_on(another_task_collects(rt)) == 5);
  }
}

TEST_CASE("scope lane: size counts the owner's unwatched child") {
  duet::Runtime rt(duet::test::cpu_only_config(1));
  CHECK(rt.block_on([](duet::Runtime& rt) -> duet::Task<bool> {
    duet::Notify never;
    duet::TaskScope<int> scope(rt);
    scope.spawn(parked_until(&never, 1));
    const bool one = scope.size() == 1;
    scope.spawn(value(2));  // the first is watched now, the second in the lane
    const bool two = scope.size() == 2;
    co_return one&& two;
  }(rt)));
}

TEST_CASE("scope lane: a plain thread's cancel races the owner's spawn and next") {
  duet::test::Watchdog wd("scope lane cancel race", std::chrono::seconds(240));
  duet::Runtime rt(duet::test::cpu_only_config(2));
  const int rounds = duet::test::sanitized ? 60 : 400;
  constexpr int kChildren = 40;
  for (int round = 0; round < rounds; ++round) {
    Round r;
    auto owner = rt.spawn(owner_loop(rt, &r, kChildren, false));
    std::thread closer([&r, round] {
      duet::TaskScope<int>* s = nullptr;
      while ((s = r.scope.load()) == nullptr) std::this_thread::yield();
      for (int i = 0; i < round % 7; ++i) std::this_thread::yield();
      s->cancel();
      (void)s->size();
      r.closed.store(true);
    });
    const int accounted = owner.join();
    closer.join();
    INFO("round " << round);
    CHECK(accounted == kChildren);
  }
}

TEST_CASE("scope lane: a plain thread collecting with next races the owner's spawns") {
  duet::test::Watchdog wd("scope lane collector race", std::chrono::seconds(240));
  duet::Runtime rt(duet::test::cpu_only_config(2));
  const int rounds = duet::test::sanitized ? 60 : 400;
  constexpr int kChildren = 40;
  for (int round = 0; round < rounds; ++round) {
    Round r;
    int got = 0;
    std::thread collector([&r, &got] {
      duet::TaskScope<int>* s = nullptr;
      while ((s = r.scope.load()) == nullptr) std::this_thread::yield();
      // Empty (nothing spawned yet, or all taken): next() waits for the
      // owner's next spawn.
      while (got < kChildren) {
        if (auto out = duet::wait(s->next())) {
          got += out->take();
        } else {
          std::this_thread::yield();
        }
      }
      r.closed.store(true);
    });
    auto owner = rt.spawn(owner_loop(rt, &r, kChildren, true));
    (void)owner.join();
    collector.join();
    INFO("round " << round);
    CHECK(got == kChildren);
  }
}

// The join hand-off (Worker::run_child_inline): a task that joins a child
// its worker would run next (in the LIFO slot: just spawned or woken) runs
// the child inside its own poll first; a child that finishes at once is
// joined with no join waker, park or wake. Not when the tick's budget is
// spent (the loop's maintenance comes first), so the counts below allow a
// few joins that go the usual way: a tick is 128 runs.
//
// These tests check that it happens where it should
// (WorkerStats::inline_joins): stackless children inside stackless
// joiners, fiber children inside coroutines and fibers; never a stackless
// child on a fiber's stack, never a copy fiber. And that nothing is lost
// through it: values, exceptions, cancellation before the run, a child
// that suspends or yields (it is then joined the usual way), and a deep
// chain of spawn+joins (the nesting is bounded, so the thread stack is too).
#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "duet/duet.hpp"
#include "test_util.hpp"
#include "worker_stats.hpp"

namespace {

std::uint64_t inline_joins(duet::Runtime& rt) {
  return duet::test::worker_stat(rt, &duet::WorkerStats::inline_joins);
}

duet::Task<int> value(int v) {
  co_return v;
}

duet::Task<int> thrower() {
  throw std::runtime_error("child failed");
  co_return 0;
}

duet::Task<int> yields_then(int v) {
  co_await duet::yield_now();
  co_return v;
}

/// Spawns and joins a chain `depth` tasks deep; each level adds one.
duet::Task<int> chain(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await duet::spawn(chain(depth - 1));
}

struct Answer {
  duet::Poll<int> poll(duet::Context&) { return 41; }
};

}  // namespace

TEST_CASE("a child spawned and joined at once runs inside the join", "[task][inline_join]") {
  duet::test::Watchdog wd("inline join: value");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  const std::uint64_t before = inline_joins(rt);
  const int sum = rt.block_on([]() -> duet::Task<int> {
    int s = 0;
    for (int i = 0; i < 100; ++i) s += co_await duet::spawn(value(i));
    co_return s;
  }());
  CHECK(sum == 4950);
  CHECK(inline_joins(rt) - before >= 90);
}

TEST_CASE("a poll-future child is run inside the join too", "[task][inline_join]") {
  duet::test::Watchdog wd("inline join: poll future");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  const std::uint64_t before = inline_joins(rt);
  const int v = rt.block_on([](duet::Runtime& rt) -> duet::Task<int> {
    int s = 0;
    for (int i = 0; i < 20; ++i) s += co_await rt.spawn(Answer{}) + 1;
    co_return s;
  }(rt));
  CHECK(v == 20 * 42);
  CHECK(inline_joins(rt) - before >= 15);
}

TEST_CASE("an exception of a child run inside the join reaches the joiner", "[task][inline_join]") {
  duet::test::Watchdog wd("inline join: exception");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  const std::uint64_t before = inline_joins(rt);
  const int caught = rt.block_on([]() -> duet::Task<int> {
    int n = 0;
    for (int i = 0; i < 20; ++i) {
      try {
        co_await duet::spawn(thrower());
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "child failed") ++n;
      }
    }
    co_return n;
  }());
  CHECK(caught == 20);
  CHECK(inline_joins(rt) - before >= 15);
}

TEST_CASE("a child cancelled before the join is cancelled, not run, inside it",
          "[task][inline_join]") {
  duet::test::Watchdog wd("inline join: cancelled");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  const bool cancelled = rt.block_on([]() -> duet::Task<bool> {
    auto h = duet::spawn(value(1));
    h.cancel();
    try {
      co_await h;
    } catch (const duet::Cancelled&) {
      co_return true;
    }
    co_return false;
  }());
  CHECK(cancelled);
}

TEST_CASE("a child that suspends inside the join is joined when it finishes later",
          "[task][inline_join]") {
  duet::test::Watchdog wd("inline join: suspends");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  const std::uint64_t before = inline_joins(rt);
  const int sum = rt.block_on([]() -> duet::Task<int> {
    int s = 0;
    for (int i = 0; i < 50; ++i) s += co_await duet::spawn(yields_then(i));
    co_return s;
  }());
  CHECK(sum == 1225);
  // Each child ran once inside its join (up to its yield), then from the
  // ring: the second run is the loop's.
  CHECK(inline_joins(rt) - before >= 45);
}

TEST_CASE("a deep chain of spawn+joins nests a bounded number of polls", "[task][inline_join]") {
  duet::test::Watchdog wd("inline join: deep chain");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  // 20,000 levels: unbounded nesting would need several MB of thread stack
  // (and overflow it under the sanitizers); bounded, the chain is parked
  // level by level as it is without the hand-off.
  constexpr int depth = 20000;
  CHECK(rt.block_on(chain(depth)) == depth);
  CHECK(inline_joins(rt) > 0);
}

TEST_CASE("a fiber child runs inside the join of a coroutine or a fiber", "[task][inline_join]") {
  duet::test::Watchdog wd("inline join: fibers");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  // Warm the worker's stack cache: a fiber is started inside a join only
  // with a stack at hand (else the loop starts it, on its own stack).
  rt.spawn(duet::stackful, [] { return 0; }).join();
  std::uint64_t before = inline_joins(rt);
  // A coroutine joins fiber children.
  const int a = rt.block_on([](duet::Runtime& rt) -> duet::Task<int> {
    int s = 0;
    for (int i = 0; i < 20; ++i) s += co_await rt.spawn(duet::stackful, [i] { return i; });
    co_return s;
  }(rt));
  CHECK(a == 190);
  CHECK(inline_joins(rt) - before >= 15);
  // A fiber joins fiber children: values, exceptions, a child that parks
  // (it yields: the joiner then waits for it the usual way).
  before = inline_joins(rt);
  const int b =
      rt.spawn(duet::stackful, [&rt] {
          int s = 0;
          for (int i = 0; i < 20; ++i) {
            s += rt.spawn(duet::stackful, [i] { return i; }).join();
            try {
              rt.spawn(duet::stackful, []() -> int { throw std::runtime_error("x"); }).join();
            } catch (const std::runtime_error&) {
              s += 1;
            }
            s += rt.spawn(duet::stackful, [i] {
                     duet::this_fiber::yield();
                     return i;
                   }).join();
          }
          return s;
        }).join();
  CHECK(b == 190 + 20 + 190);
  CHECK(inline_joins(rt) - before >= 45);
}

TEST_CASE("stackless children are never run on a fiber's stack, nor copy fibers inside a join",
          "[task][inline_join]") {
  duet::test::Watchdog wd("inline join: excluded");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  const std::uint64_t before = inline_joins(rt);
  // A fiber joins a coroutine child: its poll would run on the fiber's stack.
  const int b = rt.spawn(duet::stackful, [&rt] { return rt.spawn(value(6)).join(); }).join();
  // A coroutine joins a copy fiber: its bytes live on the shared stack.
  const int c = rt.block_on([](duet::Runtime& rt) -> duet::Task<int> {
    co_return co_await rt.spawn(duet::stackful({.strategy = duet::StackStrategy::copy}),
                                [] { return 7; });
  }(rt));
  CHECK(b == 6);
  CHECK(c == 7);
  CHECK(inline_joins(rt) == before);
}

namespace {

enum class Mode : unsigned { value, throws, yields, nested };

constexpr duet::StackStrategy kStrategies[] = {duet::StackStrategy::pooled,
                                               duet::StackStrategy::lazy, duet::StackStrategy::copy,
                                               duet::StackStrategy::unguarded_unsafe};

duet::Task<long> coro_child(long v, Mode m) {
  switch (m) {
    case Mode::value:
      break;
    case Mode::throws:
      throw std::runtime_error("child");
    case Mode::yields:
      co_await duet::yield_now();
      break;
    case Mode::nested:
      co_return co_await duet::spawn(coro_child(v, Mode::value));
  }
  co_return v;
}

long fiber_child(duet::Runtime& rt, long v, Mode m) {
  switch (m) {
    case Mode::value:
      break;
    case Mode::throws:
      throw std::runtime_error("child");
    case Mode::yields:
      duet::this_fiber::yield();
      break;
    case Mode::nested:
      return rt.spawn(duet::stackful, [v] { return v; }).join();
  }
  return v;
}

/// A child of a random kind (a coroutine, or a fiber of any strategy)
/// doing a random thing, `cancel`led at once or not.
duet::JoinHandle<long> spawn_child(duet::Runtime& rt, std::uint32_t r, long v, Mode m,
                                   bool cancel) {
  duet::JoinHandle<long> h = r % 5 == 0 ? rt.spawn(coro_child(v, m))
                                        : rt.spawn(duet::stackful({.strategy = kStrategies[r % 4]}),
                                                   [&rt, v, m] { return fiber_child(rt, v, m); });
  if (cancel) h.cancel();
  return h;
}

/// What a join of that child must give: the value, the exception, or (only
/// when cancelled) Cancelled. Returns 1 for a wrong outcome.
template <class Join>
int check_join(Join&& join, long v, Mode m, bool cancelled) {
  try {
    const long got = join();
    return got == v && m != Mode::throws ? 0 : 1;
  } catch (const duet::Cancelled&) {  // a runtime_error too: first
    return cancelled ? 0 : 1;
  } catch (const std::runtime_error&) {
    return m == Mode::throws ? 0 : 1;
  }
}

struct Step {
  std::uint32_t r;
  long v;
  Mode m;
  bool cancel;
};
Step next_step(std::uint32_t& x, long i) {
  x = x * 1664525u + 1013904223u;  // a per-driver LCG: the mix is reproducible
  return Step{x >> 8, i, static_cast<Mode>((x >> 4) % 4), (x >> 20) % 7 == 0};
}

duet::Task<int> coro_driver(duet::Runtime& rt, std::uint32_t seed, int iters) {
  int wrong = 0;
  for (int i = 0; i < iters; ++i) {
    const Step s = next_step(seed, i);
    auto h = spawn_child(rt, s.r, s.v, s.m, s.cancel);
    try {
      const long got = co_await h;
      wrong += got == s.v && s.m != Mode::throws ? 0 : 1;
    } catch (const duet::Cancelled&) {  // a runtime_error too: first
      wrong += s.cancel ? 0 : 1;
    } catch (const std::runtime_error&) {
      wrong += s.m == Mode::throws ? 0 : 1;
    }
  }
  co_return wrong;
}

int fiber_driver(duet::Runtime& rt, std::uint32_t seed, int iters) {
  int wrong = 0;
  for (int i = 0; i < iters; ++i) {
    const Step s = next_step(seed, i);
    auto h = spawn_child(rt, s.r, s.v, s.m, s.cancel);
    wrong += check_join([&h] { return h.join(); }, s.v, s.m, s.cancel);
  }
  return wrong;
}

}  // namespace

TEST_CASE(
    "join hand-off stress: coroutines and fibers of every strategy spawn and join each other, "
    "some cancelled, on two workers",
    "[task][inline_join][stress]") {
  duet::test::Watchdog wd("inline join stress");
  duet::RuntimeConfig c = duet::test::cpu_only_config(1);
  c.workers = 2;
  duet::Runtime rt(c);
  const int iters = duet::test::sanitized ? 300 : 2000;
  std::vector<duet::JoinHandle<int>> drivers;
  for (std::uint32_t d = 0; d < 8; ++d) {
    const std::uint32_t seed = 0x9e3779b9u * (d + 1);
    if (d % 2 == 0) {
      drivers.push_back(rt.spawn(coro_driver(rt, seed, iters)));
    } else {
      drivers.push_back(rt.spawn(duet::stackful({.strategy = kStrategies[d / 2 % 4]}),
                                 [&rt, seed, iters] { return fiber_driver(rt, seed, iters); }));
    }
  }
  int wrong = 0;
  for (auto& h : drivers) wrong += h.join();
  CHECK(wrong == 0);
  CHECK(inline_joins(rt) > 0);
}

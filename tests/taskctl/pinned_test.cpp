// Pinned spawn (duet::pinned, duet::pin_to; docs/scheduler.md, "Pinned
// tasks"): a pinned task of each kind runs on its home worker only, whatever
// wakes it (a yield, a timer, a task on another worker, a plain thread) and
// however busy its worker is, while the unpinned tasks around it are stolen;
// a pinned task queued behind a busy worker waits for it rather than move;
// errors for a pin that names no worker; shutdown cancels pinned tasks.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

/// Occupies the worker it runs on until `*release` is set.
struct Hog {
  std::atomic<bool>* started;
  std::atomic<bool>* release;
  duet::Poll<int> poll(duet::Context&) {
    started->store(true);
    while (!release->load()) std::this_thread::yield();
    return 0;
  }
};

/// Records the worker of each of its runs: where it started, and how many
/// runs found it elsewhere.
struct Where {
  int home = -2;
  std::atomic<int> moved{0};
  std::atomic<int> runs{0};
  void here() {
    const int w = duet::Runtime::current_worker();
    if (home == -2) home = w;
    if (w != home) moved.fetch_add(1);
    runs.fetch_add(1);
  }
};

/// An unpinned task spawned by a pinned one onto its worker, `home`: on
/// another worker it counts itself in `elsewhere`; on `home` it holds the
/// worker until `elsewhere` reaches `target`, so that the other worker must
/// steal from this one (each round of the pinned task sees a steal).
duet::Task<int> filler(std::atomic<int>* elsewhere, int home, int target) {
  const int w = duet::Runtime::current_worker();
  if (w != home) {
    elsewhere->fetch_add(1);
  } else {
    while (elsewhere->load() < target) std::this_thread::yield();
  }
  co_return w;
}

/// A pinned coroutine woken every way there is, `rounds` times: a yield, a
/// sleep, a Notify from a task on any worker, a Notify from a plain thread
/// (`outside`), and the join of a child run anywhere. Each round it spawns
/// unpinned fillers onto its own worker, at least one of which the other
/// worker steals (`stolen` counts them).
duet::Task<void> pinned_coro(Where* at, duet::Notify* outside, std::atomic<int>* outside_waits,
                             int rounds, std::atomic<int>* stolen) {
  at->here();
  for (int r = 0; r < rounds; ++r) {
    std::vector<duet::JoinHandle<int>> fill;
    for (int i = 0; i < 16; ++i) fill.push_back(duet::spawn(filler(stolen, at->home, r + 1)));
    co_await duet::yield_now();
    at->here();
    co_await duet::sleep(0ms);
    at->here();
    duet::Notify n;
    auto poke = duet::spawn([](duet::Notify* n) -> duet::Task<void> {
      co_await duet::yield_now();
      n->notify_one();
    }(&n));
    co_await n.notified();
    at->here();
    co_await poke;
    at->here();
    auto waiter = outside->notified();
    outside_waits->fetch_add(1);
    co_await std::move(waiter);
    at->here();
    for (auto& f : fill) (void)co_await f;
    at->here();
  }
}

/// The same for a fiber.
void pinned_fiber(Where* at, duet::Notify* outside, std::atomic<int>* outside_waits, int rounds,
                  std::atomic<int>* stolen) {
  at->here();
  for (int r = 0; r < rounds; ++r) {
    std::vector<duet::JoinHandle<int>> fill;
    for (int i = 0; i < 16; ++i) fill.push_back(duet::spawn(filler(stolen, at->home, r + 1)));
    duet::this_fiber::yield();
    at->here();
    duet::wait(duet::sleep(0ms));
    at->here();
    duet::Notify n;
    auto poke = duet::spawn(duet::stackful, [&n] {
      duet::this_fiber::yield();
      n.notify_one();
    });
    duet::wait(n.notified());
    at->here();
    poke.join();
    at->here();
    auto waiter = outside->notified();
    outside_waits->fetch_add(1);
    duet::wait(std::move(waiter));
    at->here();
    for (auto& f : fill) (void)f.join();
    at->here();
  }
}

/// Notifies `n` from this (plain) thread each time a task announces a wait
/// on it, until `total` waits were served.
void serve_outside(duet::Notify& n, std::atomic<int>& waits, int total) {
  for (int served = 0; served < total;) {
    if (waits.load() > served) {
      n.notify_one();
      ++served;
    } else {
      std::this_thread::yield();
    }
  }
}

/// Runs a pinned task made by `spawn(home, at, outside, waits, rounds,
/// stolen)` on each worker in turn, serves its waits from this thread, and
/// checks that every run was on its home while the other worker stole.
template <class Spawn>
void check_pinned_rounds(Spawn spawn) {
  constexpr int kRounds = 40;
  for (unsigned home = 0; home < 2; ++home) {
    Where at;
    duet::Notify outside;
    std::atomic<int> waits{0}, stolen{0};
    auto h = spawn(home, &at, &outside, &waits, kRounds, &stolen);
    serve_outside(outside, waits, kRounds);
    h.join();
    CHECK(at.home == static_cast<int>(home));
    CHECK(at.moved.load() == 0);
    CHECK(at.runs.load() == 1 + 6 * kRounds);
    CHECK(stolen.load() >= kRounds);  // the other worker stole in every round
  }
}

}  // namespace

TEST_CASE(
    "a pinned coroutine stays on its worker through every kind of wake while others are stolen") {
  duet::test::Watchdog dog("pinned coroutine");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  check_pinned_rounds([&](unsigned home, Where* at, duet::Notify* outside, std::atomic<int>* waits,
                          int rounds, std::atomic<int>* stolen) {
    return rt.spawn(duet::pin_to(home), pinned_coro(at, outside, waits, rounds, stolen));
  });
}

TEST_CASE("a pinned fiber stays on its worker through every kind of wake while others are stolen") {
  duet::test::Watchdog dog("pinned fiber");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  check_pinned_rounds([&](unsigned home, Where* at, duet::Notify* outside, std::atomic<int>* waits,
                          int rounds, std::atomic<int>* stolen) {
    return rt.spawn(duet::pin_to(home), duet::stackful,
                    [=] { pinned_fiber(at, outside, waits, rounds, stolen); });
  });
}

namespace {
/// The other worker's parks so far.
std::uint64_t parks_of(duet::Runtime& rt, unsigned w) {
  return rt.stats()[w].parks;
}

/// Spawns a hog pinned to worker 0, then `spawn_task` (which pins its task
/// to worker 0), then runs a task on worker 1 and waits until worker 1
/// goes to sleep after it: on the way it looked for work everywhere, and
/// would have taken an unpinned task. Then the hog ends, and the task runs,
/// on worker 0.
template <class SpawnTask>
void waits_for_its_worker(SpawnTask spawn_task) {
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  std::atomic<bool> hog_started{false}, release{false};
  auto hog = rt.spawn(duet::pin_to(0), Hog{&hog_started, &release});
  while (!hog_started.load()) std::this_thread::yield();
  std::atomic<int> ran_on{-2};
  auto h = spawn_task(rt, ran_on);
  const std::uint64_t parks = parks_of(rt, 1);
  rt.spawn(duet::pin_to(1), duet::stackful, [] {}).join();
  while (parks_of(rt, 1) <= parks) std::this_thread::yield();
  CHECK(ran_on.load() == -2);  // still queued behind the hog
  release.store(true);
  hog.join();
  h.join();
  CHECK(ran_on.load() == 0);
}
}  // namespace

TEST_CASE("a pinned task queued behind a busy worker waits for it while another worker idles") {
  duet::test::Watchdog dog("pinned waits");
  SECTION("coroutine") {
    waits_for_its_worker([](duet::Runtime& rt, std::atomic<int>& ran_on) {
      return rt.spawn(duet::pin_to(0), [](std::atomic<int>* r) -> duet::Task<void> {
        r->store(duet::Runtime::current_worker());
        co_return;
      }(&ran_on));
    });
  }
  SECTION("fiber") {
    waits_for_its_worker([](duet::Runtime& rt, std::atomic<int>& ran_on) {
      return rt.spawn(duet::pin_to(0), duet::stackful,
                      [&ran_on] { ran_on.store(duet::Runtime::current_worker()); });
    });
  }
  SECTION("poll future") {
    struct Record {
      std::atomic<int>* r;
      duet::Poll<int> poll(duet::Context&) {
        r->store(duet::Runtime::current_worker());
        return 1;
      }
    };
    waits_for_its_worker([](duet::Runtime& rt, std::atomic<int>& ran_on) {
      return rt.spawn(duet::pin_to(0), Record{&ran_on});
    });
  }
}

TEST_CASE("duet::pinned pins to the spawning worker, and a pin that names no worker throws") {
  duet::test::Watchdog dog("pinned here");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  // From a task: the child's home is the parent's worker.
  auto pair = rt.block_on([]() -> duet::Task<std::pair<int, int>> {
    const int parent = duet::Runtime::current_worker();
    auto child = duet::spawn(duet::pinned, []() -> duet::Task<int> {
      co_await duet::yield_now();
      co_return duet::Runtime::current_worker();
    }());
    co_return std::pair{parent, co_await child};
  }());
  CHECK(pair.first >= 0);
  CHECK(pair.first == pair.second);
  // Off the runtime's workers there is no "here".
  CHECK_THROWS_AS(rt.spawn(duet::pinned, duet::stackful, [] {}), std::logic_error);
  // Past the last worker.
  CHECK_THROWS_AS(rt.spawn(duet::pin_to(2), duet::stackful, [] {}), std::out_of_range);
  // Another runtime's worker is not here either.
  duet::Runtime other(duet::RuntimeConfig{.workers = 1});
  const bool threw = other.block_on([&rt]() -> duet::Task<bool> {
    try {
      rt.spawn(duet::pinned, duet::stackful, [] {}).join();
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  }());
  CHECK(threw);
  CHECK(duet::Runtime::current_worker() == -1);
}

TEST_CASE("shutdown cancels pinned tasks, queued and parked, of every kind") {
  duet::test::Watchdog dog("pinned shutdown");
  std::vector<duet::JoinHandle<void>> handles;
  {
    duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
    std::atomic<bool> hog_started{false}, release{false};
    auto hog = rt.spawn(duet::pin_to(1), Hog{&hog_started, &release});
    while (!hog_started.load()) std::this_thread::yield();
    duet::Notify never;
    std::atomic<int> parked{0};
    // Parked forever on worker 0.
    handles.push_back(
        rt.spawn(duet::pin_to(0), [](duet::Notify* n, std::atomic<int>* p) -> duet::Task<void> {
          auto w = n->notified();
          p->fetch_add(1);
          co_await std::move(w);
        }(&never, &parked)));
    handles.push_back(rt.spawn(duet::pin_to(0), duet::stackful, [&never, &parked] {
      auto w = never.notified();
      parked.fetch_add(1);
      duet::wait(std::move(w));
    }));
    while (parked.load() < 2) std::this_thread::yield();
    // Queued on worker 1, behind the hog, forever.
    handles.push_back(rt.spawn(duet::pin_to(1), []() -> duet::Task<void> { co_return; }()));
    handles.push_back(rt.spawn(duet::pin_to(1), duet::stackful, [] {}));
    // The hog holds worker 1 until shutdown asks: release it from here,
    // after the shutdown began, so that the queued ones are never run.
    std::thread releaser([&] { release.store(true); });
    rt.shutdown();
    releaser.join();
  }
  int cancelled = 0;
  for (auto& h : handles) {
    try {
      h.join();
    } catch (const duet::Cancelled&) {
      ++cancelled;
    }
  }
  // The parked ones were surely cancelled; the queued ones ran or were.
  CHECK(cancelled >= 2);
}

TEST_CASE("a manual clock's advance waits for the pinned tasks it starts and wakes") {
  duet::test::Watchdog dog("pinned test clock");
  duet::RuntimeConfig cfg;
  cfg.workers = 2;
  cfg.clock = duet::ClockMode::manual;
  duet::Runtime rt(cfg);
  std::atomic<int> step{0}, wrong_worker{0};
  // Spawned from here and woken by timers fired from here: both reach the
  // home through its inbox, which advance must count as work.
  auto h = rt.spawn(duet::pin_to(1),
                    [](std::atomic<int>* s, std::atomic<int>* wrong) -> duet::Task<void> {
                      for (int i = 1; i <= 3; ++i) {
                        if (duet::Runtime::current_worker() != 1) wrong->fetch_add(1);
                        s->store(i);
                        co_await duet::sleep(10ms);
                      }
                    }(&step, &wrong_worker));
  rt.advance(0ms);
  CHECK(step.load() == 1);
  rt.advance(10ms);
  CHECK(step.load() == 2);
  rt.advance(10ms);
  CHECK(step.load() == 3);
  rt.advance(10ms);
  h.join();
  CHECK(wrong_worker.load() == 0);
}

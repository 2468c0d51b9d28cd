// A task in the LIFO slot of a worker stuck in a long poll (user code that
// blocks or spins) is taken by an idle worker after a bound
// (RuntimeConfig::lifo_steal_after), for both backends; the slot's
// owner/thief handshake gives each queued task to exactly one side; and a
// stress of LIFO wakes, ring steals and slot steals runs every task once.
// The blocked workers spin on flags the test controls; nothing sleeps.
#include "sched/lifo_slot.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

using namespace std::chrono_literals;
using duet::detail::LifoSlot;
using duet::detail::TaskHeader;
using duet::detail::TaskVTable;

namespace {

using Clock = std::chrono::steady_clock;

// ---- the slot alone ----------------------------------------------------------

// Bare headers with an id; the slot never calls the vtable.
struct FakeTask : TaskHeader {
  static constexpr TaskVTable vt{
      duet::detail::TaskKind::poll, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  explicit FakeTask(int i) : TaskHeader(&vt), id(i) {}
  int id;
};

// ---- a worker stuck in one poll --------------------------------------------

// What the test observes: the blocked poll's thread, where the woken task
// ran before and after the wake, and the flag the woken task raises to let
// the blocked poll end.
struct Probe {
  std::atomic<bool> released{false};
  std::atomic<std::thread::id> blocker{};
  std::atomic<std::thread::id> wakee_before{};
  std::atomic<std::thread::id> wakee_after{};
  // With `pin_behind`, the blocker first queues a task pinned to its own
  // worker from another thread (into that worker's pinned inbox, which no
  // other worker may take from), and `parks_blocked` counts the runtime's
  // parks from the wake until the woken task runs.
  duet::Runtime* pin_behind = nullptr;
  std::atomic<std::uint64_t> parks_at_wake{0};
  std::atomic<std::uint64_t> parks_blocked{0};
  std::atomic<bool> pinned_ran{false};
};

std::uint64_t parks(duet::Runtime& rt);

// Queues a task pinned to the calling worker from another thread, so that it
// waits in the worker's inbox behind the poll that blocks it.
void queue_pinned_behind(Probe& p) {
  if (p.pin_behind == nullptr) return;
  const int home = duet::Runtime::current_worker();
  std::thread([&p, home] {
    p.pin_behind
        ->spawn(duet::pin_to(static_cast<unsigned>(home)),
                [](Probe* q) -> duet::Task<void> {
                  q->pinned_ran = true;
                  co_return;
                }(&p))
        .detach();
    // Then work for the idle worker, so that it searches and parks again
    // with the pinned task queued (the park's re-check is what must not
    // count a task only its home may run).
    p.pin_behind->spawn([]() -> duet::Task<void> { co_return; }()).detach();
  }).join();
  p.parks_at_wake = parks(*p.pin_behind);
}

void count_blocked_parks(Probe& p) {
  if (p.pin_behind != nullptr) p.parks_blocked = parks(*p.pin_behind) - p.parks_at_wake.load();
}

// The calling thread, read afresh on every call: a fiber may move between
// workers, and std::this_thread::get_id() is a const function the compiler
// may read once per function (docs/life-of-a-fiber.md, "4. Wake and steal").
[[gnu::noipa]] std::thread::id thread_now() {
  return std::this_thread::get_id();
}

// Spins (never sleeps) until the flag is raised or `limit` passes; true if
// it was raised. This is the long poll: the worker runs nothing else.
bool spin_until_released(Probe& p, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!p.released.load()) {
    if (Clock::now() > end) return false;
    for (int i = 0; i < 64; ++i) __builtin_ia32_pause();
  }
  return true;
}

// The woken task: it first runs on the blocker's worker (spawned into its
// LIFO slot), wakes the blocker there and parks; the blocker's wake puts it
// back into that worker's LIFO slot, and the blocker then spins.
duet::Task<void> coro_wakee(duet::OneshotSender<int> parked, duet::OneshotReceiver<int> go,
                            Probe& p) {
  p.wakee_before = thread_now();
  (void)parked.send(1);
  co_await go;
  p.wakee_after = thread_now();
  count_blocked_parks(p);
  p.released = true;
}

duet::Task<bool> coro_blocker(Probe& p, std::chrono::milliseconds limit) {
  auto parked = duet::oneshot<int>();
  auto go = duet::oneshot<int>();
  duet::spawn(coro_wakee(std::move(parked.first), std::move(go.second), p)).detach();
  co_await parked.second;  // the wakee runs here meanwhile, then parks
  p.blocker = thread_now();
  queue_pinned_behind(p);
  (void)go.first.send(1);                   // into this worker's LIFO slot...
  co_return spin_until_released(p, limit);  // ...behind a poll that does not end
}

bool fiber_blocker(Probe& p, std::chrono::milliseconds limit) {
  auto parked = duet::oneshot<int>();
  auto go = duet::oneshot<int>();
  duet::spawn(duet::stackful, [tx = std::move(parked.first), rx = std::move(go.second),
                               &p]() mutable {
    p.wakee_before = thread_now();
    (void)tx.send(1);
    duet::wait(rx);
    p.wakee_after = thread_now();
    count_blocked_parks(p);
    p.released = true;
  }).detach();
  duet::wait(parked.second);
  p.blocker = thread_now();
  queue_pinned_behind(p);
  (void)go.first.send(1);
  return spin_until_released(p, limit);
}

std::uint64_t lifo_steals(duet::Runtime& rt) {
  std::uint64_t n = 0;
  for (auto& s : rt.stats()) n += s.lifo_steals;
  return n;
}

std::uint64_t parks(duet::Runtime& rt) {
  std::uint64_t n = 0;
  for (auto& s : rt.stats()) n += s.parks;
  return n;
}

// Runs the scenario with the blocker as a coroutine or a fiber, after both
// workers have parked once (the second one is idle throughout).
template <class Spawn>
void expect_taken_while_blocked(Spawn spawn_blocker, bool pin_behind = false) {
  duet::test::Watchdog wd("LIFO task behind a blocked worker");
  duet::Runtime rt({.workers = 2, .placement = duet::Placement::none});
  while (parks(rt) < 2) std::this_thread::yield();
  Probe p;
  if (pin_behind) p.pin_behind = &rt;
  // Far longer than the 1 ms default period: without the watcher the
  // blocker gives up here, and the check below fails.
  auto h = spawn_blocker(rt, p, std::chrono::milliseconds(20000));
  CHECK(h.join());
  // The woken task ran while the blocker still spun, so on the other worker.
  CHECK(p.wakee_after.load() != p.blocker.load());
  // When the wakee first ran where the blocker runs (always, unless that
  // worker lost its CPU for a whole period right after the spawn), the only
  // way to it was the blocked worker's LIFO slot.
  if (p.wakee_before.load() == p.blocker.load()) CHECK(lifo_steals(rt) >= 1);
  if (pin_behind) {
    // The idle worker slept while it watched: a park per watch period or
    // so, not one per pass of a search that finds the pinned task it may
    // not take (that spun a whole core, tens of thousands a second).
    CHECK(p.parks_blocked.load() < 1000);
    // Once the blocker returned, its worker ran the pinned task.
    while (!p.pinned_ran.load()) std::this_thread::yield();
  }
}

}  // namespace

TEST_CASE("LifoSlot: owner and two thieves race, each queued task is taken once",
          "[lifo_steal][stress]") {
  if (!LifoSlot::stealing_supported()) {
    DUET_SKIP("membarrier(2) private expedited is unavailable: LIFO slots are never stolen here");
  }
  const int rounds = duet::test::sanitized ? 5000 : 20000;
  constexpr int pool = 8;
  std::vector<std::unique_ptr<FakeTask>> tasks;
  for (int i = 0; i < pool; ++i) tasks.push_back(std::make_unique<FakeTask>(i));
  // in_slot[i]: task i is queued in the slot and not yet taken by anyone.
  std::vector<std::atomic<bool>> in_slot(pool);
  std::atomic<long> by_owner{0}, by_thieves{0}, pushes{0};
  std::atomic<bool> done{false};
  std::atomic<int> double_takes{0};
  LifoSlot slot;
  auto consume = [&](TaskHeader* t, std::atomic<long>& count) {
    if (!in_slot[static_cast<std::size_t>(static_cast<FakeTask*>(t)->id)].exchange(false)) {
      double_takes.fetch_add(1);
    }
    count.fetch_add(1);
  };
  auto thief = [&] {
    while (!done.load(std::memory_order_acquire)) {
      TaskHeader* t = slot.peek();
      if (t == nullptr) continue;
      if (TaskHeader* s = slot.steal(t)) consume(s, by_thieves);
      // Each attempt interrupts the owner's CPU (membarrier); the watcher
      // makes one per period. Back off a little so the owner runs.
      const auto until = Clock::now() + std::chrono::microseconds(5);
      while (Clock::now() < until) __builtin_ia32_pause();
    }
  };
  std::thread a(thief), b(thief);
  for (int i = 0; i < rounds; ++i) {
    const auto k = static_cast<std::size_t>(i % pool);
    if (in_slot[k].load()) {
      // Still queued (ours to take) or won by a thief that has not counted
      // it yet: empty the slot, then wait for the thief.
      if (TaskHeader* t = slot.take()) consume(t, by_owner);
      while (in_slot[k].load()) std::this_thread::yield();
    }
    in_slot[k] = true;
    pushes.fetch_add(1);
    if (TaskHeader* displaced = slot.push(tasks[k].get())) consume(displaced, by_owner);
    // Give thieves time to claim, for 0-31 us (a thief's barrier takes a
    // few), then take or displace the task: the owner's side meets the
    // thieves' at every phase of their handshake.
    const auto linger_end = Clock::now() + std::chrono::microseconds(i * 7 % 32);
    while (in_slot[k].load() && Clock::now() < linger_end) __builtin_ia32_pause();
    if (i % 2 == 0) {
      if (TaskHeader* t = slot.take()) consume(t, by_owner);
    }
  }
  done.store(true, std::memory_order_release);
  a.join();
  b.join();
  if (TaskHeader* t = slot.take()) consume(t, by_owner);
  CHECK(double_takes.load() == 0);
  CHECK(by_owner.load() + by_thieves.load() == pushes.load());
  for (auto& f : in_slot) CHECK_FALSE(f.load());
  CHECK(by_thieves.load() > 0);
}

TEST_CASE("A task woken into the LIFO slot of a blocked worker runs on the idle one (coroutine)",
          "[lifo_steal]") {
  if (!LifoSlot::stealing_supported()) {
    DUET_SKIP("membarrier(2) private expedited is unavailable: LIFO slots are never stolen here");
  }
  expect_taken_while_blocked([](duet::Runtime& rt, Probe& p, std::chrono::milliseconds limit) {
    return rt.spawn(coro_blocker(p, limit));
  });
}

TEST_CASE("A task woken into the LIFO slot of a blocked worker runs on the idle one (fiber)",
          "[lifo_steal]") {
  if (!LifoSlot::stealing_supported()) {
    DUET_SKIP("membarrier(2) private expedited is unavailable: LIFO slots are never stolen here");
  }
  expect_taken_while_blocked([](duet::Runtime& rt, Probe& p, std::chrono::milliseconds limit) {
    return rt.spawn(duet::stackful, [&p, limit] { return fiber_blocker(p, limit); });
  });
}

TEST_CASE(
    "A task pinned behind a blocked worker neither hides its LIFO slot nor wakes the idle one",
    "[lifo_steal]") {
  if (!LifoSlot::stealing_supported()) {
    DUET_SKIP("membarrier(2) private expedited is unavailable: LIFO slots are never stolen here");
  }
  SECTION("coroutine blocker") {
    expect_taken_while_blocked(
        [](duet::Runtime& rt, Probe& p, std::chrono::milliseconds limit) {
          return rt.spawn(coro_blocker(p, limit));
        },
        true);
  }
  SECTION("fiber blocker") {
    expect_taken_while_blocked(
        [](duet::Runtime& rt, Probe& p, std::chrono::milliseconds limit) {
          return rt.spawn(duet::stackful, [&p, limit] { return fiber_blocker(p, limit); });
        },
        true);
  }
}

TEST_CASE("lifo_steal_after = 0: the task waits for its worker", "[lifo_steal]") {
  duet::test::Watchdog wd("LIFO stealing off");
  duet::Runtime rt({.workers = 2,
                    .placement = duet::Placement::none,
                    .lifo_steal_after = std::chrono::nanoseconds(0)});
  while (parks(rt) < 2) std::this_thread::yield();
  Probe p;
  // 50 ms, fifty default periods: nobody takes the task meanwhile, so the
  // blocker gives up; the task then runs on the blocker's own worker.
  CHECK_FALSE(rt.spawn(coro_blocker(p, std::chrono::milliseconds(50))).join());
  while (!p.released.load()) std::this_thread::yield();
  CHECK(lifo_steals(rt) == 0);
  CHECK_THROWS_AS(duet::Runtime({.workers = 1, .lifo_steal_after = std::chrono::nanoseconds(-1)}),
                  std::invalid_argument);
}

namespace {

// ---- stress: LIFO wakes, ring steals and slot steals together -------------

// How long a root blocks its worker: a fixed time, or until its partner
// (whose wake sits in the root's LIFO slot) ran, with a cap.
struct Block {
  std::chrono::microseconds at_most;
  bool until_partner;
};

void spin(const Block& b, const std::atomic<std::uint8_t>& partner_ran) {
  const auto end = Clock::now() + b.at_most;
  while (Clock::now() < end && !(b.until_partner && partner_ran.load() != 0)) {
    __builtin_ia32_pause();
  }
}

duet::Task<void> bump(std::atomic<std::uint8_t>* slot) {
  slot->fetch_add(1, std::memory_order_relaxed);
  co_return;
}

duet::Task<void> coro_partner(std::atomic<std::uint8_t>* slot, duet::OneshotReceiver<int> rx) {
  co_await rx;
  slot->fetch_add(1, std::memory_order_relaxed);
}

// A root (ids base..base+3): parks a partner on a oneshot, spawns two
// children (the second pushes the first out of the LIFO slot into the
// ring, where ordinary stealing finds it), wakes the partner (into the
// slot, pushing the second child into the ring), then blocks its worker:
// the task in the slot is the watcher's to take.
duet::Task<void> coro_root(std::atomic<std::uint8_t>* runs, Block block) {
  auto ch = duet::oneshot<int>();
  auto partner = duet::spawn(coro_partner(&runs[0], std::move(ch.second)));
  co_await duet::yield_now();  // the partner usually parks meanwhile
  auto a = duet::spawn(bump(&runs[1]));
  auto b = duet::spawn(bump(&runs[2]));
  (void)ch.first.send(1);
  spin(block, runs[0]);
  co_await a;
  co_await b;
  co_await partner;
  runs[3].fetch_add(1, std::memory_order_relaxed);
}

// The same with fibers: children and partner are fibers too.
void fiber_root(std::atomic<std::uint8_t>* runs, Block block) {
  auto ch = duet::oneshot<int>();
  auto partner =
      duet::spawn(duet::stackful, [slot = &runs[0], rx = std::move(ch.second)]() mutable {
        duet::wait(rx);
        slot->fetch_add(1, std::memory_order_relaxed);
      });
  duet::this_fiber::yield();
  auto child = [](std::atomic<std::uint8_t>* slot) {
    return duet::spawn(duet::stackful, [slot] { slot->fetch_add(1, std::memory_order_relaxed); });
  };
  auto a = child(&runs[1]);
  auto b = child(&runs[2]);
  (void)ch.first.send(1);
  spin(block, runs[0]);
  a.join();
  b.join();
  partner.join();
  runs[3].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

TEST_CASE("LIFO wakes mixed with ring and slot steals run every task exactly once",
          "[lifo_steal][stress]") {
  duet::test::Watchdog wd("LIFO steal stress", std::chrono::seconds(280));
  const int waves = duet::test::sanitized ? 150 : 600;
  constexpr int workers = 3;
  constexpr int roots_per_wave = workers - 1;  // a worker is left to watch
  const int roots = waves * roots_per_wave;
  auto runs = std::make_unique<std::atomic<std::uint8_t>[]>(static_cast<std::size_t>(roots) * 4);
  std::uint64_t taken = 0;
  {
    // A short period so that blocks of 0-400 us outlast it; a 4-slot ring so
    // that overflow to the injector mixes in.
    duet::Runtime rt({.workers = workers,
                      .placement = duet::Placement::none,
                      .local_queue_capacity = 4,
                      .lifo_steal_after = std::chrono::microseconds(50),
                      .fiber_stack_size = 16 * 1024});
    std::vector<duet::JoinHandle<void>> hs;
    for (int w = 0; w < waves; ++w) {
      hs.clear();
      for (int r = 0; r < roots_per_wave; ++r) {
        const int id = w * roots_per_wave + r;
        auto* mine = &runs[static_cast<std::size_t>(id) * 4];
        // Mostly 0-400 us; every eighth root blocks until the watcher took
        // its partner (at most 20 s), so that slot steals surely happen.
        const Block block = id % 8 == 0 ? Block{20s, true} : Block{(id * 37) % 400 * 1us, false};
        if (id % 2 == 0) {
          hs.push_back(rt.spawn(coro_root(mine, block)));
        } else {
          hs.push_back(rt.spawn(duet::stackful, [mine, block] { fiber_root(mine, block); }));
        }
      }
      for (auto& h : hs) h.join();
    }
    taken = lifo_steals(rt);
  }
  for (int i = 0; i < roots * 4; ++i) REQUIRE(runs[static_cast<std::size_t>(i)].load() == 1);
  // The watcher took tasks from blocked workers' slots along the way.
  if (LifoSlot::stealing_supported()) CHECK(taken > 0);
}

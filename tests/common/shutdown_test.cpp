// Shutdown: tasks still pending (queued, parked, never started) of both
// backends are destroyed, their destructors run, fibers unwind; joiners see
// Cancelled; nothing leaks and nothing hangs.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "alloc_tracker.hpp"
#include "sched/scheduler.hpp"
#include "test_util.hpp"

namespace {

/// Waits until shutdown() (running on another thread) has flagged the
/// runtime: from then on a worker leaving its current run starts nothing.
void wait_until_shutdown_flagged(duet::Runtime& rt) {
  while (!duet::detail::scheduler_of(rt)->is_shutdown()) std::this_thread::yield();
}
std::atomic<int> g_guards_made{0};
struct Guard {
  explicit Guard(std::atomic<int>* d) : n(d) { g_guards_made.fetch_add(1); }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  ~Guard() { n->fetch_add(1); }
  std::atomic<int>* n;
};

duet::Task<int> parked_coro(std::atomic<int>& n) {
  Guard g{&n};
  co_return co_await duet::test::Never{};
}

// A nested chain: cancellation destroys every frame of it.
duet::Task<int> nested(std::atomic<int>& n, int depth) {
  Guard g{&n};
  if (depth == 0) co_return co_await duet::test::Never{};
  co_return co_await nested(n, depth - 1);
}
}  // namespace

TEST_CASE("shutdown cancels parked and queued tasks of both kinds", "[shutdown]") {
  duet::test::Watchdog wd("shutdown");
  std::atomic<int> destroyed{0};
  const int made_before = g_guards_made.load();
  std::vector<duet::JoinHandle<int>> handles;
  {
    duet::Runtime rt({.workers = 2});
    for (int i = 0; i < 50; ++i) handles.push_back(rt.spawn(parked_coro(destroyed)));
    handles.push_back(rt.spawn(nested(destroyed, 10)));  // 11 guards
    for (int i = 0; i < 50; ++i) {
      handles.push_back(rt.spawn(duet::stackful, [&destroyed] {
        Guard g{&destroyed};
        return duet::wait(duet::test::Never{});
      }));
    }
    // A task parked on another task's handle: a cycle of references that
    // only shutdown breaks.
    auto inner = rt.spawn(parked_coro(destroyed));
    handles.push_back(rt.spawn([](duet::JoinHandle<int> h) -> duet::Task<int> {
      co_return co_await h;
    }(std::move(inner))));
    // Let them all reach their waits (every guard constructed).
    while (g_guards_made.load() - made_before < 50 + 11 + 50 + 1) std::this_thread::yield();
  }  // ~Runtime
  CHECK(destroyed.load() == 50 + 11 + 50 + 1);
  for (auto& h : handles) {
    CHECK(h.is_finished());
    CHECK_THROWS_AS(h.join(), duet::Cancelled);
  }
}

namespace {
// Parks until poked, then parks for good: a task that is listed (it parked)
// and, once poked, queued as well.
struct Poke {
  std::mutex mu;
  bool poked = false;
  duet::Waker w;
  void poke() {
    duet::Waker take;
    {
      std::lock_guard g(mu);
      poked = true;
      take = std::move(w);
    }
    std::move(take).wake();
  }
};
struct PokeWait {
  Poke* p;
  duet::Poll<void> poll(duet::Context& cx) {
    std::lock_guard g(p->mu);
    if (p->poked) return duet::ready();
    p->w = cx.waker();
    return duet::pending;
  }
};
}  // namespace

TEST_CASE("shutdown with tasks both listed and queued cancels every task", "[shutdown]") {
  // Regression: unlisting a queued, listed task twice cut its OwnedTasks
  // shard, and the rest of the shard was never cancelled (LeakSanitizer
  // caught it as leaked echo handlers).
  duet::test::Watchdog wd("listed and queued");
  const int n = 400;
  std::atomic<int> destroyed{0}, parked{0};
  std::vector<std::unique_ptr<Poke>> pokes;
  for (int i = 0; i < n; ++i) pokes.push_back(std::make_unique<Poke>());
  {
    duet::Runtime rt({.workers = 1});
    std::atomic<bool> release{false};
    for (int i = 0; i < n; ++i) {
      rt.spawn([](Poke& p, std::atomic<int>& d, std::atomic<int>& k) -> duet::Task<void> {
          Guard g{&d};
          k.fetch_add(1);
          co_await PokeWait{&p};
          co_await duet::test::Never{};
        }(*pokes[static_cast<std::size_t>(i)], destroyed, parked))
          .detach();
    }
    while (parked.load() < n) std::this_thread::yield();
    // Keep the worker busy, wake every other task (queued and listed now),
    // and shut down before the worker gets to them.
    auto blocker = rt.spawn([](std::atomic<bool>& r) -> duet::Task<void> {
      while (!r.load()) std::this_thread::yield();
      co_return;
    }(release));
    for (int i = 1; i < n; i += 2) pokes[static_cast<std::size_t>(i)]->poke();
    std::thread stopper([&rt] { rt.shutdown(); });
    wait_until_shutdown_flagged(rt);
    release.store(true);
    stopper.join();
  }
  CHECK(destroyed.load() == n);
}

TEST_CASE("shutdown cancels tasks that never started", "[shutdown]") {
  std::atomic<int> destroyed{0}, ran{0};
  std::vector<duet::JoinHandle<void>> handles;
  {
    duet::Runtime rt({.workers = 1});
    std::atomic<bool> release{false};
    // Block the only worker so that everything spawned after stays queued.
    auto blocker = rt.spawn([](std::atomic<bool>& r) -> duet::Task<void> {
      while (!r.load()) std::this_thread::yield();
      co_return;
    }(release));
    for (int i = 0; i < 100; ++i) {
      handles.push_back(rt.spawn(
          duet::stackful, [g = std::make_shared<Guard>(&destroyed), &ran] { ran.fetch_add(1); }));
    }
    // Shut down from another thread (shutdown() waits for the worker, which
    // is still in the blocker), then let the blocker finish: the worker sees
    // the shutdown and never starts the queued fibers.
    std::thread stopper([&rt] { rt.shutdown(); });
    wait_until_shutdown_flagged(rt);
    release.store(true);
    stopper.join();
  }
  CHECK(ran.load() == 0);
  CHECK(destroyed.load() == 100);
  for (auto& h : handles) CHECK_THROWS_AS(h.join(), duet::Cancelled);
}

TEST_CASE("spawning on a shut-down runtime yields a cancelled task", "[shutdown]") {
  duet::Runtime rt({.workers = 1});
  rt.shutdown();
  rt.shutdown();  // idempotent
  auto c = rt.spawn([]() -> duet::Task<int> { co_return 1; }());
  auto f = rt.spawn(duet::stackful, [] { return 2; });
  CHECK_THROWS_AS(c.join(), duet::Cancelled);
  CHECK_THROWS_AS(f.join(), duet::Cancelled);
}

TEST_CASE("runtimes torn down one after another do not accumulate allocations",
          "[shutdown][leak]") {
  // Task memory comes from the block cache's slabs, which this tracker does
  // not see: leaked tasks are LeakSanitizer's job (the ASan build puts every
  // block on the heap). This test catches leaks of heap objects around the
  // runtime: drivers, pools, wakers, outcomes. The process-wide pools keep
  // some bookkeeping (a vector may grow once, depending on which thread
  // freed what), hence a small tolerance against 450 tasks per round.
  if (!duet::test::alloc_tracking_enabled()) {
    DUET_SKIP("allocation tracking is off in sanitizer builds (LeakSanitizer covers leaks)");
  }
  auto run_once = [] {
    std::atomic<int> n{0};
    duet::Runtime rt({.workers = 2});
    std::vector<duet::JoinHandle<int>> hs;
    for (int i = 0; i < 200; ++i) hs.push_back(rt.spawn(parked_coro(n)));
    for (int i = 0; i < 200; ++i)
      hs.push_back(rt.spawn([](int k) -> duet::Task<int> { co_return k; }(i)));
    for (int i = 0; i < 50; ++i) hs.push_back(rt.spawn(duet::stackful, [] { return 1; }));
    for (int i = 200; i < 400; ++i) (void)hs[static_cast<std::size_t>(i)].join();
    hs.clear();
  };
  run_once();  // warms the process-wide pools (stack pool buckets, topology)
  run_once();
  duet::detail::block_cache_trim();
  auto before = duet::test::alloc_counts().live();
  for (int round = 0; round < 5; ++round) run_once();
  duet::detail::block_cache_trim();
  auto after = duet::test::alloc_counts().live();
  CHECK(after - before <= 4);
}

namespace {
/// A poll future whose move throws: spawning it must fail before anything
/// is spawned, and give its task block back.
struct ThrowingMove {
  std::atomic<int>* polled;
  explicit ThrowingMove(std::atomic<int>* p) : polled(p) {}
  ThrowingMove(ThrowingMove&& o) : polled(o.polled) { throw std::runtime_error("no move"); }
  duet::Poll<int> poll(duet::Context&) {
    polled->fetch_add(1);
    return 1;
  }
};
}  // namespace

TEST_CASE("spawning a poll future whose move throws spawns nothing and keeps no block",
          "[shutdown][leak]") {
  duet::Runtime rt({.workers = 1});
  std::atomic<int> polled{0};
  using Task = duet::detail::PollTask<ThrowingMove>;
  namespace blocks = duet::detail::blocks;
  const std::size_t c = blocks::class_of(sizeof(Task));
  // One block of the class in this thread's cache: a failed spawn takes it
  // and must put it back.
  duet::detail::block_free(duet::detail::block_alloc(sizeof(Task)), sizeof(Task));
  const auto before = c < blocks::num_classes ? blocks::tl_cache.count[c] : 0;
  for (int i = 0; i < 100; ++i) {
    CHECK_THROWS_AS(rt.spawn(ThrowingMove{&polled}), std::runtime_error);
  }
  // Where blocks come from the heap (sanitizer builds), LeakSanitizer
  // checks the same at exit.
  if (DUET_BLOCKS_INLINE && c < blocks::num_classes) CHECK(blocks::tl_cache.count[c] == before);
  CHECK(rt.spawn([]() -> duet::Task<int> { co_return 7; }()).join() == 7);
  CHECK(polled.load() == 0);
}

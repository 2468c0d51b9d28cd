// duet::TaskLocal (docs/task-local.md): a value bound in a task stays the
// task's own after the task moves to another worker (the thread changes, the
// value does not), in coroutines and fibers; scopes nest and unwind; a
// spawned task sees no scope of its parent; plain threads have their own.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

duet::TaskLocal<int> g_id;
duet::TaskLocal<int> g_other;

/// Where a task caches "the current value" the wrong way: a thread_local,
/// as userver#242 describes.
thread_local int tl_cached = -1;

// Opaque reads of the thread's identity and of tl_cached (the empty asm
// makes them impure): the compiler must not reuse a value read before a
// wait, after which the task may run on another thread (pthread_self is
// declared const, and a thread_local's address may be kept).
[[gnu::noinline]] std::thread::id thread_now() {
  asm volatile("" ::: "memory");
  return std::this_thread::get_id();
}
[[gnu::noinline]] int& cached_here() {
  asm volatile("" ::: "memory");
  return tl_cached;
}

/// Occupies the worker it runs on until `*moved` is set, so that a task
/// queued behind it on that worker can only run again when another worker
/// steals it. Spawned pinned to that worker: a hog the other worker took
/// (its LIFO watcher steals the slot's task of a worker stuck in one poll,
/// as a descheduled thread looks) would leave the task yielding alone where
/// it started.
struct MoveHog {
  std::atomic<bool>* moved;
  duet::Poll<int> poll(duet::Context&) {
    while (!moved->load()) std::this_thread::yield();
    return 0;
  }
};

/// One coroutine: binds `id`, caches it in a thread_local, and yields
/// until it runs on another thread than the first (a hog holds the first
/// worker). Returns whether the task-local kept its value, and records that
/// the thread_local did not follow.
duet::Task<bool> coro_moves(int id, std::atomic<int>& thread_changed,
                            std::atomic<int>& cache_wrong) {
  auto body = [](int my, std::atomic<int>& changed, std::atomic<int>& wrong) -> duet::Task<bool> {
    const std::thread::id first = thread_now();
    cached_here() = my;
    std::atomic<bool> moved{false};
    auto hog = duet::spawn(duet::pinned, MoveHog{&moved});
    while (thread_now() == first) co_await duet::yield_now();
    moved.store(true);
    changed.fetch_add(1);
    if (cached_here() != my) wrong.fetch_add(1);
    const bool kept = g_id.get() == my;
    co_await hog;
    co_return kept;
  };
  co_return co_await duet::local_scope(g_id, id, body(id, thread_changed, cache_wrong));
}

bool fiber_moves(int id, std::atomic<int>& thread_changed) {
  return g_id.sync_scope(id, [&] {
    const std::thread::id first = thread_now();
    std::atomic<bool> moved{false};
    auto hog = duet::spawn(duet::pinned, MoveHog{&moved});
    while (thread_now() == first) duet::this_fiber::yield();
    moved.store(true);
    thread_changed.fetch_add(1);
    const bool kept = g_id.get() == id;
    hog.join();
    return kept;
  });
}

}  // namespace

TEST_CASE("a coroutine's task-local keeps its value after the task is stolen to another worker") {
  duet::test::Watchdog dog("task-local after a steal, coroutines");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  std::atomic<int> changed{0}, cache_wrong{0};
  constexpr int kTasks = 4;
  for (int i = 0; i < kTasks; ++i) {
    CHECK(rt.block_on(coro_moves(100 + i, changed, cache_wrong)));
  }
  CHECK(changed.load() == kTasks);  // every task did run on a second thread
  // The hazard is real: the thread_local read after the move is the other
  // thread's (it holds -1 or an earlier task's id, never this task's).
  CHECK(cache_wrong.load() == kTasks);
}

TEST_CASE("a fiber's task-local keeps its value after the fiber is stolen to another worker") {
  duet::test::Watchdog dog("task-local after a steal, fibers");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  std::atomic<int> changed{0};
  constexpr int kFibers = 4;
  for (int i = 0; i < kFibers; ++i) {
    CHECK(rt.block_on(duet::stackful, [&, i] { return fiber_moves(200 + i, changed); }));
  }
  CHECK(changed.load() == kFibers);
}

TEST_CASE("many tasks of both kinds, each with its own task-local, move between workers") {
  duet::test::Watchdog dog("task-locals of many tasks");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  constexpr int kEach = duet::test::sanitized ? 20 : 100;
  constexpr int kYields = 20;
  std::vector<duet::JoinHandle<bool>> hs;
  for (int i = 0; i < kEach; ++i) {
    hs.push_back(rt.spawn(duet::local_scope(g_id, i, [](int my) -> duet::Task<bool> {
      bool ok = true;
      for (int k = 0; k < kYields; ++k) {
        co_await duet::yield_now();
        ok = ok && g_id.get() == my;
      }
      co_return ok;
    }(i))));
    hs.push_back(rt.spawn(duet::stackful, [i] {
      return g_id.sync_scope(-i, [i] {
        bool ok = true;
        for (int k = 0; k < kYields; ++k) {
          duet::this_fiber::yield();
          ok = ok && g_id.get() == -i;
        }
        return ok;
      });
    }));
  }
  for (auto& h : hs) CHECK(h.join());
}

TEST_CASE("task-local scopes nest, shadow the outer value, and restore it, also on an exception") {
  duet::test::Watchdog dog("nested task-local scopes");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  // Coroutines.
  auto inner = []() -> duet::Task<int> {
    co_await duet::yield_now();
    co_return g_id.get();
  };
  auto throws = []() -> duet::Task<int> {
    co_await duet::yield_now();
    throw std::runtime_error("inner failed");
  };
  auto outer = [&]() -> duet::Task<bool> {
    bool ok = g_id.get() == 1;
    ok = ok && co_await duet::local_scope(g_id, 2, inner()) == 2;
    ok = ok && g_id.get() == 1;  // the outer value is back
    try {
      (void)co_await duet::local_scope(g_id, 3, throws());
      ok = false;
    } catch (const std::runtime_error&) {
    }
    ok = ok && g_id.get() == 1;
    // Another key is independent.
    ok = ok && g_other.try_get() == nullptr;
    ok = ok && co_await duet::local_scope(g_other, 9, inner()) == 1;
    co_return ok;
  };
  CHECK(rt.block_on(duet::local_scope(g_id, 1, outer())));

  // Fibers.
  CHECK(rt.block_on(duet::stackful, [] {
    return g_id.sync_scope(1, [] {
      bool ok = g_id.get() == 1;
      ok = ok && g_id.sync_scope(2, [] {
        duet::this_fiber::yield();
        return g_id.get();
      }) == 2;
      ok = ok && g_id.get() == 1;
      try {
        g_id.sync_scope(3, []() -> int { throw std::runtime_error("inner failed"); });
        ok = false;
      } catch (const std::runtime_error&) {
      }
      return ok && g_id.get() == 1;
    });
  }));
}

TEST_CASE(
    "outside every scope get throws logic_error and try_get is null, and a spawned task sees no "
    "parent scope") {
  duet::test::Watchdog dog("task-local outside a scope");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  CHECK(g_id.try_get() == nullptr);
  CHECK_THROWS_AS(g_id.get(), std::logic_error);
  CHECK_THROWS_WITH(g_id.get(), Catch::Contains("no scope"));
  auto child = []() -> duet::Task<bool> { co_return g_id.try_get() == nullptr; };
  auto parent = [&]() -> duet::Task<bool> {
    auto h = duet::spawn(child());
    co_return co_await h;
  };
  CHECK(rt.block_on(duet::local_scope(g_id, 5, parent())));
  CHECK(rt.block_on(duet::stackful, [] {
    return g_id.sync_scope(5, [] {
      return duet::spawn(duet::stackful, [] { return g_id.try_get() == nullptr; }).join();
    });
  }));
  // The scopes were closed: nothing is left for anyone.
  CHECK(g_id.try_get() == nullptr);
}

TEST_CASE("plain threads each see their own task-local scope") {
  duet::test::Watchdog dog("task-locals on plain threads");
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int> good{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] {
      g_id.sync_scope(i, [&] {
        ready.fetch_add(1);
        while (!go.load()) std::this_thread::yield();  // every scope is open at once
        if (g_id.get() == i) good.fetch_add(1);
      });
    });
  }
  while (ready.load() < 4) std::this_thread::yield();
  CHECK(g_id.try_get() == nullptr);  // the test thread opened none
  go.store(true);
  for (auto& t : ts) t.join();
  CHECK(good.load() == 4);
}

// A get() served from the thread's cached lookup must not outlive the scope
// it read: each scope's start and end invalidates it, for the same owner on
// the same thread, and a key made where another lived starts afresh.
TEST_CASE("a cached task-local read follows every scope's start and end") {
  // A plain thread: the owner never changes, so only the generation can
  // tell the cached value is gone.
  CHECK(g_id.try_get() == nullptr);
  g_id.sync_scope(1, [] {
    CHECK(g_id.get() == 1);
    CHECK(g_id.get() == 1);  // served from the cache
    g_id.sync_scope(2, [] { CHECK(g_id.get() == 2); });
    CHECK(g_id.get() == 1);
  });
  CHECK(g_id.try_get() == nullptr);
  // A scope opened and closed by another thread in between does not change
  // this thread's value (it only costs a lookup).
  g_id.sync_scope(3, [] {
    CHECK(g_id.get() == 3);
    std::thread([] { g_id.sync_scope(4, [] { CHECK(g_id.get() == 4); }); }).join();
    CHECK(g_id.get() == 3);
  });
  // Keys made and destroyed in turn at one address.
  for (int i = 0; i < 4; ++i) {
    auto key = std::make_unique<duet::TaskLocal<int>>();
    CHECK(key->try_get() == nullptr);
    key->sync_scope(i, [&] { CHECK(key->get() == i); });
    CHECK(key->try_get() == nullptr);
  }
}

namespace {

duet::TaskLocal<int> g_teardown;

/// Records, when destroyed, the value of g_teardown it sees (-1: none). A
/// moved-from one records nothing.
struct SeesTeardown {
  std::atomic<int>* seen;
  explicit SeesTeardown(std::atomic<int>* s) : seen(s) {}
  SeesTeardown(SeesTeardown&& o) noexcept : seen(std::exchange(o.seen, nullptr)) {}
  SeesTeardown& operator=(SeesTeardown&&) = delete;
  ~SeesTeardown() {
    if (seen == nullptr) return;
    const int* v = g_teardown.try_get();
    seen->store(v != nullptr ? *v : -1);
  }
};

/// Observations of one inner body: what its by-value parameter's and its
/// local's destructors saw.
struct Teardown {
  std::atomic<int> param{0};
  std::atomic<int> local{0};
  std::atomic<bool> started{false};
};

/// Waits on a token nobody cancels: only its task's cancellation ends it.
duet::Task<int> waits_for_cancel([[maybe_unused]] SeesTeardown param, Teardown* t,
                                 duet::CancellationToken never) {
  SeesTeardown local(&t->local);
  t->started.store(true);
  co_await never.cancelled();
  co_return 0;
}

duet::Task<int> finishes([[maybe_unused]] SeesTeardown param, Teardown* t) {
  SeesTeardown local(&t->local);
  co_await duet::yield_now();
  co_return 1;
}

void wait_started(const Teardown& t) {
  while (!t.started.load()) std::this_thread::yield();
}

}  // namespace

// Tokio's task_local_available_on_abort and ..._on_completion_drop: the
// scope is open while everything inside it is destroyed, in either model.
TEST_CASE("a task-local is seen by the destructors of a cancelled scope's body, in both models") {
  duet::test::Watchdog dog("task-local in a cancelled body's destructors");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  duet::CancellationToken never;
  SECTION("coroutine") {
    Teardown t;
    auto h = rt.spawn(
        duet::local_scope(g_teardown, 7, waits_for_cancel(SeesTeardown(&t.param), &t, never)));
    wait_started(t);
    h.cancel();
    CHECK_THROWS_AS(h.join(), duet::Cancelled);
    CHECK(t.local.load() == 7);
    CHECK(t.param.load() == 7);
  }
  SECTION("fiber") {
    Teardown t;
    auto h = rt.spawn(duet::stackful, [&t, never] {
      return g_teardown.sync_scope(7, [p = SeesTeardown(&t.param), &t, never] {
        SeesTeardown local(&t.local);
        t.started.store(true);
        duet::wait(never.cancelled());
        return 0;
      });
    });
    wait_started(t);
    h.cancel();
    CHECK_THROWS_AS(h.join(), duet::Cancelled);
    CHECK(t.local.load() == 7);
    CHECK(t.param.load() == 7);
  }
}

TEST_CASE("a task-local is seen by the destructors of a finished scope's body, in both models") {
  duet::test::Watchdog dog("task-local in a finished body's destructors");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 2});
  SECTION("coroutine") {
    Teardown t;
    CHECK(rt.block_on(duet::local_scope(g_teardown, 8, finishes(SeesTeardown(&t.param), &t))) == 1);
    CHECK(t.local.load() == 8);
    CHECK(t.param.load() == 8);
  }
  SECTION("fiber") {
    Teardown t;
    CHECK(rt.block_on(duet::stackful, [&t] {
      return g_teardown.sync_scope(8, [p = SeesTeardown(&t.param), &t]() {
        SeesTeardown local(&t.local);
        duet::this_fiber::yield();
        return 1;
      });
    }) == 1);
    CHECK(t.local.load() == 8);
    CHECK(t.param.load() == 8);  // a function given as an rvalue ends inside the scope
  }
}

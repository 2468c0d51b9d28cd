// blocking_share_test.cpp: each runtime's share of the blocking pool
// (duet/blocking.hpp, common/src/blocking/quota.hpp): a runtime's jobs run
// at most its max_blocking_threads at once and the rest wait in its own
// queue, while another runtime's jobs and the process's run beside them; a
// runtime destroyed while its jobs run or wait leaves them to finish; a
// pool thread that ends a job takes the next waiting one itself; the
// fallback timer's loop takes a pool thread while a timer waits, outside
// every share; configure_blocking_pool(BlockingPoolConfig) sets the
// process's share, a field left out keeping its default.
#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;

std::unique_ptr<duet::Runtime> make_rt(std::size_t max_blocking) {
  duet::RuntimeConfig cfg;
  cfg.workers = 1;
  cfg.placement = duet::Placement::none;
  cfg.max_blocking_threads = max_blocking;
  return std::make_unique<duet::Runtime>(cfg);
}

/// Spawns, from a task of `rt`, a blocking job that waits for `gate` and
/// then counts itself in `done` (detached: nobody joins it).
void spawn_gated(duet::Runtime& rt, std::shared_future<void> gate, std::atomic<int>* done) {
  rt.spawn(duet::stackful, [gate, done] {
      duet::spawn_blocking([gate, done] {
        gate.wait();
        done->fetch_add(1);
      });
    }).join();
}

/// Gives the process's share its limit and keep-alive back at the case's
/// end (configure_blocking_pool is process-wide).
struct RestorePool {
  std::size_t max_threads = duet::blocking_pool_stats().max_threads;
  ~RestorePool() {
    duet::configure_blocking_pool(
        {.max_threads = max_threads, .keep_alive = duet::RuntimeConfig{}.blocking_keep_alive});
  }
};

template <class P>
void wait_until(P pred) {
  while (!pred()) std::this_thread::yield();
}

}  // namespace

TEST_CASE("blocking pool: each runtime's jobs count against its own limit", "[blocking]") {
  duet::test::Watchdog wd("blocking shares");
  auto ap = make_rt(1);
  auto bp = make_rt(2);
  duet::Runtime& a = *ap;
  duet::Runtime& b = *bp;
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  std::atomic<int> a_done{0};
  for (int i = 0; i < 3; ++i) spawn_gated(a, gate, &a_done);
  // One of a's jobs holds its one slot; the other two wait in its queue.
  wait_until([&] { return a.blocking_stats().queued == 2; });
  CHECK(a.blocking_stats().threads == 1);
  CHECK(a.blocking_stats().max_threads == 1);
  // b's jobs, and a job off every worker, run meanwhile: a's burst holds
  // back nobody else's. b's two jobs each wait for the other to start, so
  // they end only by running at once (a limit below two would hang them,
  // and the watchdog names it).
  auto h = b.spawn(duet::stackful, [] {
    auto both = std::make_shared<std::latch>(2);
    auto x = duet::spawn_blocking([both] {
      both->arrive_and_wait();
      return 2;
    });
    auto y = duet::spawn_blocking([both] {
      both->arrive_and_wait();
      return 3;
    });
    return x.join() * y.join();
  });
  CHECK(h.join() == 6);
  CHECK(duet::spawn_blocking([] { return 7; }).join() == 7);
  CHECK(b.blocking_stats().peak_threads == 2);
  CHECK(a_done.load() == 0);
  open.set_value();
  wait_until([&] { return a_done.load() == 3; });
  CHECK(a.blocking_stats().peak_threads == 1);
  wait_until([&] { return a.blocking_stats().threads == 0; });
  CHECK(a.blocking_stats().queued == 0);
}

TEST_CASE("blocking pool: a runtime's running and waiting jobs outlive it", "[blocking]") {
  duet::test::Watchdog wd("blocking share outlives its runtime");
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  std::atomic<int> done{0};
  {
    auto rt = make_rt(1);
    spawn_gated(*rt, gate, &done);
    spawn_gated(*rt, gate, &done);
    wait_until([&] { return rt->blocking_stats().queued == 1; });
  }  // the runtime ends: one of its jobs runs, one waits
  open.set_value();
  wait_until([&] { return done.load() == 2; });
}

TEST_CASE("blocking pool: a thread that ends a job takes its share's next one", "[blocking]") {
  duet::test::Watchdog wd("blocking share handoff");
  // The pool's threads are shared: let the ones idle from earlier cases go.
  RestorePool restore;
  duet::configure_blocking_pool({.max_threads = 512, .keep_alive = 1ms});
  wait_until([] { return duet::blocking_pool_stats().threads == 0; });
  duet::configure_blocking_pool({.max_threads = 512, .keep_alive = 10s});
  const auto spawned = duet::blocking_pool_stats().spawned;
  auto rt = make_rt(1);
  auto h = rt->spawn(duet::stackful, [] {
    std::vector<duet::JoinHandle<int>> hs;
    for (int i = 0; i < 20; ++i) hs.push_back(duet::spawn_blocking([i] { return i; }));
    int sum = 0;
    for (auto& x : hs) sum += x.join();
    return sum;
  });
  CHECK(h.join() == 190);
  CHECK(rt->blocking_stats().peak_threads == 1);
  // Twenty jobs one after another on the runtime's one slot: one thread.
  CHECK(duet::blocking_pool_stats().spawned - spawned == 1);
}

TEST_CASE("blocking pool: the fallback timer's loop runs on a pool thread only while a timer waits",
          "[blocking][time]") {
  duet::test::Watchdog wd("fallback timer service");
  RestorePool restore;
  duet::configure_blocking_pool({.max_threads = 512, .keep_alive = 1ms});
  wait_until([] { return duet::blocking_pool_stats().threads == 0; });
  for (int round = 0; round < 3; ++round) {
    const auto spawned = duet::blocking_pool_stats().spawned;
    const auto t0 = duet::Clock::now();
    duet::wait(duet::sleep(2ms));  // a plain thread: the fallback wheel
    CHECK(duet::Clock::now() - t0 >= 2ms);
    // The loop was started on a pool thread for it...
    CHECK(duet::blocking_pool_stats().spawned - spawned == 1);
    // ...and, with no timer left, gave the thread back: idle for the
    // keep-alive, it exits. The next round starts the loop again.
    wait_until([] { return duet::blocking_pool_stats().threads == 0; });
  }
  CHECK(duet::blocking_pool_stats().queued == 0);  // a service is not a job
}

TEST_CASE("blocking pool: a job that sleeps off the runtime is not held up by its share's limit",
          "[blocking][time]") {
  duet::test::Watchdog wd("fallback timer beside a full share");
  RestorePool restore;
  // The process's share holds one job at a time. The job waits on a timer
  // of the fallback wheel, whose loop must run beside it, outside the share.
  duet::configure_blocking_pool({.max_threads = 1, .keep_alive = 10s});
  auto h = duet::spawn_blocking([] {
    duet::wait(duet::sleep(2ms));
    return 7;
  });
  CHECK(h.join() == 7);
  auto a = make_rt(1);  // a runtime's share of one, its job sleeping too
  auto j = a->spawn(duet::stackful, [] {
    return duet::spawn_blocking([] {
             duet::wait(duet::sleep(2ms));
             return 8;
           })
        .join();
  });
  CHECK(j.join() == 8);
}

TEST_CASE(
    "blocking pool: configure_blocking_pool takes a BlockingPoolConfig, defaults for the rest",
    "[blocking]") {
  RestorePool restore;
  duet::configure_blocking_pool({.max_threads = 3});
  CHECK(duet::blocking_pool_stats().max_threads == 3);
  duet::configure_blocking_pool(duet::BlockingPoolConfig{});
  CHECK(duet::blocking_pool_stats().max_threads == 512);
  CHECK(duet::BlockingPoolConfig{}.keep_alive == duet::RuntimeConfig{}.blocking_keep_alive);
}

// Scheduler rules: LIFO cap, tick budget, stealing, injection, parking.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

// A chain: each link spawns the next and ends. Every spawn goes to the LIFO
// slot, so without a cap the chain would run to its end before anything in
// the ring gets a turn.
duet::Task<void> chain(std::atomic<int>& step, int left) {
  step.fetch_add(1);
  if (left > 0) duet::spawn(chain(step, left - 1)).detach();
  co_return;
}

duet::Task<int> record(std::atomic<int>& step) {
  co_return step.load();
}

}  // namespace

TEST_CASE("LIFO cap: a self-respawning chain lets a queued task run", "[scheduler]") {
  duet::Runtime rt({.workers = 1, .lifo_cap = 3});
  std::atomic<int> step{0};
  auto observed = rt.block_on([](std::atomic<int>& s) -> duet::Task<int> {
    // `other` is queued in the ring (the LIFO slot is taken by the chain's
    // first link right after).
    auto other = duet::spawn(record(s));
    duet::spawn(chain(s, 10000)).detach();
    co_return co_await other;
  }(step));
  // With a cap of 3 consecutive LIFO runs, `other` runs after a handful of
  // links, not after ten thousand.
  CHECK(observed <= 8);
  auto st = rt.stats();
  CHECK(st[0].lifo_hits > 0);
}

TEST_CASE("LIFO slot disabled: spawns go to the ring in FIFO order", "[scheduler]") {
  duet::Runtime rt({.workers = 1, .lifo_cap = 0});
  std::vector<int> order;
  rt.block_on([](std::vector<int>& o) -> duet::Task<void> {
    std::vector<duet::JoinHandle<void>> hs;
    for (int i = 0; i < 5; ++i) {
      hs.push_back(duet::spawn([](std::vector<int>& o2, int k) -> duet::Task<void> {
        o2.push_back(k);
        co_return;
      }(o, i)));
    }
    for (auto& h : hs) co_await h;
  }(order));
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(rt.stats()[0].lifo_hits == 0);
}

TEST_CASE("Tick budget: a busy local queue cannot starve a spawn from outside", "[scheduler]") {
  duet::test::Watchdog wd("budget");
  duet::Runtime rt({.workers = 1});
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  // Keeps the worker's local queue busy until stopped: yields and re-spawns.
  auto spinner = rt.spawn([](std::atomic<bool>& s, std::atomic<int>& r) -> duet::Task<void> {
    while (!s.load()) {
      duet::spawn([]() -> duet::Task<void> { co_return; }()).detach();
      co_await duet::yield_now();
      r.fetch_add(1);
    }
  }(stop, rounds));
  // The local queue is busy from here on (the spinner re-queues itself).
  while (rounds.load() < 3) std::this_thread::yield();
  // Injected from outside: must run although the local queue never empties
  // (if it starves, the spinner never stops and the watchdog fails the test).
  auto stopper = rt.spawn([](std::atomic<bool>& s, std::atomic<int>& r) -> duet::Task<int> {
    s.store(true);
    co_return r.load();
  }(stop, rounds));
  const int seen = stopper.join();
  spinner.join();
  // The stopper ran while the spinner was still going.
  CHECK(seen >= 3);
  CHECK(rounds.load() >= seen);
}

TEST_CASE("Stealing: work spawned on one worker completes on the other", "[scheduler]") {
  duet::test::Watchdog wd("stealing");
  duet::Runtime rt({.workers = 2});
  std::atomic<std::thread::id> ran_on{};
  std::atomic<bool> ran{false};
  // The spawner keeps its worker busy until the spawned work ran, so only
  // the other worker can run it, and only by stealing it.
  auto h = rt.spawn([](std::atomic<std::thread::id>& where,
                       std::atomic<bool>& flag) -> duet::Task<std::thread::id> {
    auto probe = [](std::atomic<std::thread::id>& w, std::atomic<bool>& f) -> duet::Task<void> {
      // The first probe to run records its thread (the other one may run
      // later, on the spawner's worker, once the spawner is done).
      std::thread::id none{};
      if (w.compare_exchange_strong(none, std::this_thread::get_id())) f.store(true);
      co_return;
    };
    // Two spawns: the first is pushed out of the (unstealable) LIFO slot
    // into the ring by the second.
    duet::spawn(probe(where, flag)).detach();
    duet::spawn(probe(where, flag)).detach();
    while (!flag.load()) std::this_thread::yield();
    co_return std::this_thread::get_id();
  }(ran_on, ran));
  const std::thread::id spawner = h.join();
  // The probe that ended the spawner's wait ran on another worker thread.
  CHECK(ran_on.load() != std::thread::id{});
  CHECK(ran_on.load() != spawner);
  std::uint64_t steals = 0;
  for (auto& s : rt.stats()) steals += s.steals;
  CHECK(steals >= 1);
}

TEST_CASE("Injection: many spawns from outside all run", "[scheduler]") {
  duet::Runtime rt({.workers = 2});
  const int n = duet::test::sanitized ? 2000 : 20000;
  std::vector<duet::JoinHandle<int>> hs;
  hs.reserve(n);
  for (int i = 0; i < n; ++i) {
    hs.push_back(rt.spawn([](int k) -> duet::Task<int> { co_return k; }(i)));
  }
  long sum = 0;
  for (auto& h : hs) sum += h.join();
  CHECK(sum == static_cast<long>(n) * (n - 1) / 2);
  std::uint64_t pops = 0;
  for (auto& s : rt.stats()) pops += s.injector_pops;
  CHECK(pops >= 1);
}

TEST_CASE("No lost wake-up: all workers park, then one spawn from outside", "[scheduler][stress]") {
  duet::test::Watchdog wd("no lost wake-up", std::chrono::seconds(240));
  duet::Runtime rt({.workers = 2});
  const int rounds = duet::test::sanitized ? 300 : 3000;
  auto parks = [&] {
    std::uint64_t p = 0;
    for (auto& s : rt.stats()) p += s.parks;
    return p;
  };
  // Both workers park once at start.
  while (parks() < 2) std::this_thread::yield();
  for (int r = 0; r < rounds; ++r) {
    auto before = parks();
    auto h = rt.spawn([](int k) -> duet::Task<int> { co_return k; }(r));
    REQUIRE(h.join() == r);
    // The worker that ran it parks again before the next round's spawn (the
    // other one stayed parked, or parks again too).
    while (parks() < before + 1) std::this_thread::yield();
  }
}

TEST_CASE("Idle poll: a polling worker takes outside spawns, timers and shutdown", "[scheduler]") {
  // The window is an hour: anything that waited for it to end (a spawn, a
  // due timer, shutdown) would hang until the watchdog fails the test.
  duet::test::Watchdog wd("idle poll", std::chrono::seconds(120));
  duet::RuntimeConfig cfg;
  cfg.workers = 1;
  cfg.placement = duet::Placement::none;
  cfg.idle_poll = std::chrono::hours(1);
  duet::Runtime rt(cfg);
  auto parks = [&] { return rt.stats().at(0).parks; };
  const auto parks_before = parks();
  for (int r = 0; r < 200; ++r) {
    auto h = rt.spawn([](int k) -> duet::Task<int> { co_return k; }(r));
    REQUIRE(h.join() == r);
  }
  // A timer due inside the window fires when due.
  rt.spawn([]() -> duet::Task<void> { co_await duet::sleep(2ms); }()).join();
  // Every spawn arrived within the window: the worker never went to sleep.
  CHECK(parks() - parks_before <= 1);
  rt.shutdown();  // returns although the worker is polling, not parked
}

TEST_CASE("Workers are pinned per placement, and knobs are validated", "[scheduler]") {
  duet::Runtime rt({.workers = 2, .placement = duet::Placement::compact});
  auto cpus = rt.worker_cpus();
  REQUIRE(cpus.size() == 2);
  for (int c : cpus) CHECK(c >= 0);
  duet::Runtime none({.workers = 1, .placement = duet::Placement::none});
  CHECK(none.worker_cpus()[0] == -1);
  CHECK_THROWS_AS(duet::Runtime({.workers = 1, .local_queue_capacity = 3}), std::invalid_argument);
  CHECK_THROWS_AS(duet::Runtime({.workers = 1, .tick_budget = 0}), std::invalid_argument);
}

TEST_CASE("Tiny local queues overflow to the injector and lose nothing", "[scheduler][stress]") {
  duet::Runtime rt({.workers = 2, .local_queue_capacity = 4});
  const int n = duet::test::sanitized ? 5000 : 50000;
  long sum = rt.block_on([](int n) -> duet::Task<long> {
    std::vector<duet::JoinHandle<int>> hs;
    hs.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      hs.push_back(duet::spawn([](int k) -> duet::Task<int> { co_return k; }(i)));
    long s = 0;
    for (auto& h : hs) s += co_await h;
    co_return s;
  }(n));
  CHECK(sum == static_cast<long>(n) * (n - 1) / 2);
  std::uint64_t overflows = 0;
  for (auto& s : rt.stats()) overflows += s.overflows;
  CHECK(overflows > 0);
}

// Idle: the searcher cap, the park/notify bookkeeping and its bitmap across
// word boundaries (1 to 130 workers), the last-searcher rule, shutdown's
// unpark, the watcher role (who holds it, how it passes on, when it sleeps
// with a timeout), and a race of notifiers against parking workers where no
// notification may be lost or doubled.
#include "sched/idle.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_util.hpp"

using duet::detail::Idle;

TEST_CASE("Idle: worker counts outside 1..65535 are refused", "[idle]") {
  CHECK_THROWS_AS(Idle(0, false), std::invalid_argument);
  CHECK_THROWS_AS(Idle(65536, false), std::invalid_argument);
  CHECK_NOTHROW(Idle(1, false));
}

TEST_CASE("Idle: at most half of the workers search", "[idle]") {
  for (unsigned n : {1u, 2u, 3u, 8u, 64u}) {
    INFO(n << " workers");
    Idle idle(n, false);
    unsigned admitted = 0;
    while (admitted <= n && idle.transition_worker_to_searching()) ++admitted;
    // Admission stops once 2 * searching >= n (one searcher for one worker).
    CHECK(admitted == (n + 1) / 2);
    CHECK(idle.num_searching() == admitted);
    // The searchers find work one by one; only the last one is told so.
    for (unsigned i = 0; i < admitted; ++i) {
      CHECK(idle.transition_worker_from_searching() == (i + 1 == admitted));
    }
    CHECK(idle.num_searching() == 0);
  }
}

TEST_CASE("Idle: nobody parked, nobody to notify, and a searcher makes a wake-up needless",
          "[idle]") {
  Idle idle(4, false);
  CHECK(idle.worker_to_notify() == -1);  // all four are awake
  REQUIRE_FALSE(idle.transition_worker_to_parked(2, false));
  CHECK(idle.is_parked(2));
  REQUIRE(idle.transition_worker_to_searching());
  CHECK(idle.worker_to_notify() == -1);  // a searcher will find the work
  CHECK(idle.transition_worker_from_searching());
  // Now the parked worker is woken, unlisted and counted as searching.
  CHECK(idle.worker_to_notify() == 2);
  CHECK_FALSE(idle.is_parked(2));
  CHECK(idle.num_searching() == 1);
  CHECK(idle.worker_to_notify() == -1);  // the woken one searches
}

TEST_CASE("Idle: the last searcher to park is told, the others are not", "[idle]") {
  Idle idle(4, false);
  REQUIRE(idle.transition_worker_to_searching());
  REQUIRE(idle.transition_worker_to_searching());
  CHECK_FALSE(idle.transition_worker_to_parked(0, true));
  CHECK(idle.transition_worker_to_parked(1, true));         // the last searcher
  CHECK_FALSE(idle.transition_worker_to_parked(2, false));  // never searched
  CHECK(idle.num_searching() == 0);
}

TEST_CASE("Idle: the parked bitmap spans words, lowest worker first", "[idle]") {
  for (unsigned n : {1u, 63u, 64u, 65u, 130u}) {
    INFO(n << " workers");
    Idle idle(n, false);
    // Park every worker, highest first; notifications come lowest first,
    // each one once, and then nobody is left.
    for (unsigned w = n; w-- > 0;) REQUIRE_FALSE(idle.transition_worker_to_parked(w, false));
    for (unsigned w = 0; w < n; ++w) REQUIRE(idle.is_parked(w));
    for (unsigned w = 0; w < n; ++w) {
      REQUIRE(idle.worker_to_notify() == static_cast<int>(w));
      REQUIRE_FALSE(idle.is_parked(w));
      // The woken worker finds nothing and parks again is not modelled
      // here: it stops searching so that the next notify is needed.
      idle.transition_worker_from_searching();
    }
    CHECK(idle.worker_to_notify() == -1);
  }
}

TEST_CASE("Idle: shutdown unparks by id once", "[idle]") {
  Idle idle(3, false);
  REQUIRE_FALSE(idle.transition_worker_to_parked(1, false));
  int next = -2;
  CHECK(idle.unpark_worker_by_id(1, next));
  CHECK(next == -1);  // no watcher: nobody takes over
  CHECK_FALSE(idle.is_parked(1));
  CHECK_FALSE(idle.unpark_worker_by_id(1, next));  // not parked any more
  CHECK_FALSE(idle.unpark_worker_by_id(0, next));  // never parked
  CHECK(idle.worker_to_notify() == -1);            // everyone counts as awake again
}

TEST_CASE("Idle: notifiers racing parking workers wake each parked worker once", "[idle][stress]") {
  duet::test::Watchdog wd("idle stress");
  constexpr unsigned workers = 6;
  const int rounds = duet::test::sanitized ? 2'000 : 20'000;
  Idle idle(workers, false);
  // Each worker thread parks, then waits until a notifier picked it, and
  // parks again; two notifier threads wake whoever is parked. A worker
  // picked twice without parking in between, or a park never picked, would
  // show up as a count mismatch or a hang (the watchdog).
  std::vector<std::atomic<int>> woken(workers);
  std::atomic<int> parks{0}, picks{0};
  std::atomic<bool> doubled{false};  // Catch2 v2 asserts on the main thread only
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (unsigned w = 0; w < workers; ++w) {
    ts.emplace_back([&, w] {
      int seen = 0;
      for (int r = 0; r < rounds / static_cast<int>(workers); ++r) {
        idle.transition_worker_to_parked(w, false);
        parks.fetch_add(1);
        while (woken[w].load() == seen) std::this_thread::yield();
        ++seen;
        if (woken[w].load() != seen) doubled.store(true);  // picked twice for one park
        idle.transition_worker_from_searching();           // a woken worker searches, then stops
      }
    });
  }
  auto notifier = [&] {
    while (!stop.load()) {
      const int w = idle.worker_to_notify();
      if (w >= 0) {
        woken[static_cast<std::size_t>(w)].fetch_add(1);
        picks.fetch_add(1);
      } else {
        std::this_thread::yield();
      }
    }
  };
  std::thread n1(notifier), n2(notifier);
  for (auto& t : ts) t.join();
  stop.store(true);
  n1.join();
  n2.join();
  CHECK_FALSE(doubled.load());
  CHECK(picks.load() == parks.load());
  for (unsigned w = 0; w < workers; ++w) CHECK_FALSE(idle.is_parked(w));
}

// ---- the watcher (a parked worker that looks for tasks stuck in LIFO slots) --

TEST_CASE("Idle: the first worker to park watches, and is woken last", "[idle][watch]") {
  Idle idle(3, true);
  REQUIRE_FALSE(idle.transition_worker_to_parked(1, false));  // the watcher
  REQUIRE_FALSE(idle.transition_worker_to_parked(2, false));
  CHECK(idle.watch_mode(1) == Idle::Watch::timed);  // worker 0 is awake
  CHECK(idle.watch_mode(2) == Idle::Watch::none);
  // A notification takes the other sleeper first: the watcher keeps watching.
  CHECK(idle.worker_to_notify() == 2);
  CHECK(idle.is_parked(1));
  CHECK(idle.watch_mode(1) == Idle::Watch::timed);
  idle.transition_worker_from_searching();
  // Alone, the watcher is woken and gives the role up.
  CHECK(idle.worker_to_notify() == 1);
  CHECK(idle.watch_mode(1) == Idle::Watch::none);
}

TEST_CASE("Idle: a watcher that wakes by itself passes the role to another sleeper",
          "[idle][watch]") {
  Idle idle(4, true);
  REQUIRE_FALSE(idle.transition_worker_to_parked(0, false));  // the watcher
  REQUIRE_FALSE(idle.transition_worker_to_parked(3, false));
  int next = -2;
  REQUIRE(idle.unpark_worker_by_id(0, next));
  CHECK(next == 3);  // the caller wakes it, so that it sleeps with a timeout
  CHECK(idle.watch_mode(3) == Idle::Watch::timed);
  CHECK(idle.watch_mode(0) == Idle::Watch::none);
  // A sleeper that is not the watcher leaves without passing anything on.
  REQUIRE_FALSE(idle.transition_worker_to_parked(1, false));
  REQUIRE(idle.unpark_worker_by_id(1, next));
  CHECK(next == -1);
}

TEST_CASE("Idle: with every other worker parked the watcher sleeps without a timeout",
          "[idle][watch]") {
  Idle idle(2, true);
  REQUIRE_FALSE(idle.transition_worker_to_parked(0, false));  // the watcher
  CHECK(idle.watch_mode(0) == Idle::Watch::timed);            // worker 1 runs
  CHECK_FALSE(idle.watcher_asleep());
  REQUIRE_FALSE(idle.transition_worker_to_parked(1, false));
  CHECK(idle.watch_mode(0) == Idle::Watch::asleep);  // nothing left to watch
  CHECK(idle.watcher_asleep());
  // Worker 1 wakes (say, a timer) and pushes into its LIFO slot: the push
  // path takes the flag once and wakes the watcher.
  int next = -2;
  REQUIRE(idle.unpark_worker_by_id(1, next));
  CHECK(next == -1);
  CHECK(idle.take_asleep_watcher() == 0);
  CHECK_FALSE(idle.watcher_asleep());
  CHECK(idle.take_asleep_watcher() == -1);
  CHECK(idle.watch_mode(0) == Idle::Watch::timed);
}

TEST_CASE("Idle: one worker, or watching off, has no watcher", "[idle][watch]") {
  Idle one(1, true);
  REQUIRE_FALSE(one.transition_worker_to_parked(0, false));
  CHECK(one.watch_mode(0) == Idle::Watch::none);
  Idle off(3, false);
  REQUIRE_FALSE(off.transition_worker_to_parked(0, false));
  CHECK(off.watch_mode(0) == Idle::Watch::none);
}

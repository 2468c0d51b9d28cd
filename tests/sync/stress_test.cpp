// Concurrency stress across the waiter protocol's racy corners: receivers
// with short timeouts and receivers cancelled while a sender hands them a
// value (the value must come back: exactly-once), selects with timers
// resolved on other workers, and cross-thread timer cancellation.
#include <catch2/catch.hpp>
#include <random>
#include <utility>

#include "sync_util.hpp"

using namespace duet;
using namespace duet::synctest;

TEST_CASE("stress: timeouts and cancellation racing deliveries lose no message",
          "[stress][channel]") {
  Watchdog wd("timeout/cancel stress");
  Runtime rt(small_rt(2));
  const int msgs = sanitized ? 3000 : 30000;
  for (std::size_t cap : {std::size_t{0}, std::size_t{4}}) {
    auto ch = Channel<int>::bounded(cap);
    std::vector<std::atomic<int>> seen(static_cast<std::size_t>(msgs));
    std::atomic<bool> stop{false};
    std::vector<JoinHandle<void>> consumers;
    // Cancelled consumers are kept and joined too: a cancelled task runs
    // on until its next suspension point, reading `stop` and `seen`, which
    // must outlive it (the next pass reuses their storage).
    std::vector<JoinHandle<void>> cancelled;
    auto spawn_consumer = [&](int k) {
      if (k % 2 == 0) {
        return rt.spawn([](Channel<int> ch, std::vector<std::atomic<int>>& seen,
                           std::atomic<bool>& stop) -> Task<void> {
          while (!stop.load()) {
            auto v = co_await duet::timeout(std::chrono::microseconds(50), ch.recv());
            if (v && *v) seen[static_cast<std::size_t>(**v)]++;
          }
        }(ch, seen, stop));
      }
      return rt.spawn(duet::stackful, [ch, &seen, &stop]() mutable {
        while (!stop.load()) {
          auto r = duet::wait(duet::select(ch.recv(), duet::sleep(std::chrono::microseconds(70))));
          if (r.index() == 0 && std::get<0>(r)) seen[static_cast<std::size_t>(*std::get<0>(r))]++;
        }
      });
    };
    for (int k = 0; k < 6; ++k) consumers.push_back(spawn_consumer(k));
    // The canceller: keeps cancelling a random consumer (mid-wait, often
    // while a value is being handed to it) and starting a fresh one.
    std::thread canceller([&] {
      std::mt19937 rng(7);
      while (!stop.load()) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        auto i = rng() % consumers.size();
        consumers[i].cancel();
        cancelled.push_back(
            std::exchange(consumers[i], spawn_consumer(static_cast<int>(rng() % 2))));
      }
    });
    std::atomic<int> failures{0};
    auto producer =
        rt.spawn([](Channel<int> ch, int msgs, std::atomic<int>& failures) -> Task<void> {
          for (int i = 0; i < msgs; ++i) {
            if (!(co_await ch.send(i)).ok()) failures++;
          }
        }(ch, msgs, failures));
    producer.join();
    // Drain: whatever is buffered (including values given back by
    // cancelled receivers) is counted too.
    REQUIRE(eventually([&] {
      while (auto r = ch.try_recv()) seen[static_cast<std::size_t>(*r.value)]++;
      int total = 0;
      for (auto& s : seen) total += s.load();
      return total >= msgs;
    }));
    stop = true;
    canceller.join();
    for (auto* list : {&consumers, &cancelled}) {
      for (auto& c : *list) {
        try {
          c.join();
        } catch (const Cancelled&) {
        }
      }
    }
    while (auto r = ch.try_recv()) seen[static_cast<std::size_t>(*r.value)]++;
    int bad = 0;
    for (auto& s : seen) bad += s.load() != 1;
    INFO("cap " << cap);
    CHECK(failures.load() == 0);
    CHECK(bad == 0);
  }
}

TEST_CASE("stress: mutex with timeouts and cancellation never double-grants or leaks",
          "[stress][mutex]") {
  Watchdog wd("mutex timeout stress");
  Runtime rt(small_rt(2));
  Mutex m;
  std::atomic<int> inside{0}, violations{0}, acquired{0};
  const int per = sanitized ? 300 : 3000;
  std::vector<JoinHandle<void>> hs;
  for (int t = 0; t < 6; ++t) {
    hs.push_back(rt.spawn([](Mutex& m, int per, std::atomic<int>& inside, std::atomic<int>& v,
                             std::atomic<int>& acquired) -> Task<void> {
      for (int i = 0; i < per; ++i) {
        auto g = co_await duet::timeout(std::chrono::microseconds(30), m.lock());
        if (!g) continue;
        if (inside.fetch_add(1) != 0) v++;
        acquired++;
        co_await duet::yield_now();
        inside.fetch_sub(1);
      }
    }(m, per, inside, violations, acquired)));
  }
  for (auto& h : hs) h.join();
  CHECK(violations.load() == 0);
  CHECK(acquired.load() > 0);
  CHECK_FALSE(m.is_locked());  // every grant to a timed-out waiter was passed on
}

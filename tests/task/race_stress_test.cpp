// race_stress_test.cpp: the life-cycle races of explorer_test.cpp, on the
// real runtime and at scale, for TSan and ASan: wakes from outside threads
// racing runs, joins polled once and dropped while their task completes on
// another worker (the handle-drop use-after-free the explorer found),
// cancels racing wakes, and handles dropped before completion. Each round
// checks that every task finished exactly once and that nothing leaks.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

constexpr int rounds = duet::test::sanitized ? 2000 : 20000;

/// Polls a handle once (publishing the caller's waker when the task is not
/// done), then completes, dropping the handle with it.
template <class T>
struct PollOnceThenDrop {
  duet::JoinHandle<T> h;
  duet::Poll<bool> poll(duet::Context& cx) {
    bool done = false;
    try {
      done = h.poll(cx).is_ready();
    } catch (...) {
      done = true;  // cancelled
    }
    return done;
  }
};

duet::Task<int> child(duet::OneshotReceiver<int> rx, std::atomic<int>* finished) {
  auto v = co_await std::move(rx);
  finished->fetch_add(1, std::memory_order_relaxed);
  co_return v.value_or(-1);
}

}  // namespace

TEST_CASE("stress: joins dropped as their task completes, wakes and cancels from outside",
          "[task][stress]") {
  duet::test::Watchdog dog("task race stress");
  duet::Runtime rt({.workers = 2});
  std::atomic<int> finished{0};
  int expected = 0;  // children that must run to their end
  int cancelled = 0;
  for (int r = 0; r < rounds; ++r) {
    auto [tx, rx] = duet::oneshot<int>();
    auto h = rt.spawn(child(std::move(rx), &finished));
    switch (r % 3) {
      case 0: {
        // A joiner publishes its waker and drops the handle while an
        // outside thread's send completes the child on a worker.
        auto j = rt.spawn(PollOnceThenDrop<int>{std::move(h)});
        std::thread sender([tx = std::move(tx)]() mutable { (void)tx.send(1); });
        (void)j.join();
        sender.join();
        ++expected;
        break;
      }
      case 1: {
        // A cancel races the outside wake; the handle joins the result.
        std::thread sender([tx = std::move(tx)]() mutable { (void)tx.send(2); });
        h.cancel();
        try {
          const int v = h.join();
          CHECK(v == 2);
          ++expected;
        } catch (const duet::Cancelled&) {
          ++cancelled;
        }
        sender.join();
        break;
      }
      default: {
        // The handle goes first; the send then finishes a detached task.
        h = {};
        (void)tx.send(3);
        ++expected;
        break;
      }
    }
  }
  // Detached children finish on their own: wait for the count (the
  // watchdog turns a lost wake into a failure).
  while (finished.load() < expected) std::this_thread::yield();
  rt.shutdown();
  CHECK(finished.load() == expected);
  CHECK(expected + cancelled == rounds);
}

// A select that sends and receives on one channel sees its own other case
// queued there and must park, not spin (Go's rule, test/chan/select3.go:
// "a select must not be confused when it sees itself"). Go's
// TestSelfSelect ported: two tasks, each selecting a send and a receive on
// one channel for 1000 rounds, unbuffered and buffered, on one and two
// workers, as coroutines and as fibers; and a lone self-select must leave
// its worker free for other tasks.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>

#include "sync_util.hpp"

using namespace duet;
using namespace duet::synctest;

namespace {

constexpr int rounds = 1000;

/// One side of TestSelfSelect: p selects send(p) and recv() on c; with an
/// unbuffered channel it must never receive its own value. Returns "" or
/// what went wrong.
std::string self_select_rounds_fiber(Channel<int> c, int p, std::size_t cap) {
  for (int i = 0; i < rounds; ++i) {
    // Alternate the case order as Go's test does.
    if (p == 0 || i % 2 == 0) {
      auto r = duet::wait(duet::select(c.send(p), c.recv()));
      if (r.index() == 1 && cap == 0 && std::get<1>(r) == p) return "self receive";
    } else {
      auto r = duet::wait(duet::select(c.recv(), c.send(p)));
      if (r.index() == 0 && cap == 0 && std::get<0>(r) == p) return "self receive";
    }
  }
  return "";
}

Task<std::string> self_select_rounds_coro(Channel<int> c, int p, std::size_t cap) {
  for (int i = 0; i < rounds; ++i) {
    if (p == 0 || i % 2 == 0) {
      auto r = co_await duet::select(c.send(p), c.recv());
      if (r.index() == 1 && cap == 0 && std::get<1>(r) == p) co_return "self receive";
    } else {
      auto r = co_await duet::select(c.recv(), c.send(p));
      if (r.index() == 0 && cap == 0 && std::get<0>(r) == p) co_return "self receive";
    }
  }
  co_return "";
}

}  // namespace

TEST_CASE("select: Go's TestSelfSelect, send and receive on one channel, both models",
          "[select][go]") {
  Watchdog wd("self select");
  for (unsigned workers : {1u, 2u}) {
    for (std::size_t cap : {std::size_t{0}, std::size_t{10}}) {
      for (bool fibers : {false, true}) {
        INFO(workers << " worker(s), capacity " << cap << (fibers ? ", fibers" : ", coroutines"));
        Runtime rt(small_rt(workers));
        auto c = Channel<int>::bounded(cap);
        JoinHandle<std::string> h[2];
        for (int p = 0; p < 2; ++p) {
          h[p] = fibers ? rt.spawn(duet::stackful,
                                   [c, p, cap] { return self_select_rounds_fiber(c, p, cap); })
                        : rt.spawn(self_select_rounds_coro(c, p, cap));
        }
        CHECK(h[0].join() == "");
        CHECK(h[1].join() == "");
      }
    }
  }
}

TEST_CASE("select: a lone self-select parks and leaves its worker to other tasks", "[select][go]") {
  Watchdog wd("lone self select");
  Runtime rt(small_rt(1));
  auto c = Channel<int>::bounded(0);
  std::atomic<int> parked{0};
  // Nobody else uses c: the select can only park.
  auto selector = rt.spawn([](Channel<int> c, std::atomic<int>* p) -> Task<std::size_t> {
    auto r = co_await duet::test::note_pending(duet::select(c.send(1), c.recv()), p);
    co_return r.index();
  }(c, &parked));
  while (parked.load() == 0) std::this_thread::yield();
  // On the one worker, another task runs while the select waits (a spinning
  // select would hold the worker forever: the watchdog).
  auto other = rt.spawn([]() -> Task<int> { co_return 7; }());
  CHECK(other.join() == 7);
  // Closing the channel completes the select (either case reports closed).
  c.close();
  CHECK(selector.join() <= 1);
}

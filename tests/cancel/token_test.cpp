// token_test.cpp: CancellationToken: trees, callbacks and their
// re-entrancy, cancelled() from coroutines, fibers and plain threads,
// deadlines, std::stop_token both ways, and a concurrent stress (TSan).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <duet/duet.hpp>
#include <memory>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "test_util.hpp"

using namespace duet;
using namespace std::chrono_literals;
using duet::test::Watchdog;

namespace {

Task<int> await_cancelled(CancellationToken t) {
  co_await t.cancelled();
  co_return t.is_cancelled() ? 1 : 0;
}

}  // namespace

TEST_CASE("token: cancelling a parent cancels its children, not the reverse", "[cancel]") {
  CancellationToken root;
  auto a = root.child();
  auto b = root.child();
  auto a1 = a.child();
  CHECK_FALSE(a.is_cancelled());
  CHECK(a1.cancel());
  CHECK(a1.is_cancelled());
  CHECK_FALSE(a.is_cancelled());  // a child never cancels its parent
  CHECK_FALSE(root.is_cancelled());
  CHECK(root.cancel());
  CHECK_FALSE(root.cancel());  // idempotent: the second call did nothing
  CHECK(a.is_cancelled());
  CHECK(b.is_cancelled());
  auto late = root.child();  // born cancelled
  CHECK(late.is_cancelled());
}

TEST_CASE("token: a grandchild is cancelled through a dropped middle handle", "[cancel]") {
  CancellationToken root;
  std::optional<CancellationToken> mid = root.child();
  auto leaf = mid->child();
  mid.reset();  // the leaf keeps the middle state alive
  root.cancel();
  CHECK(leaf.is_cancelled());
}

TEST_CASE("token: dropped children unlink from a long-lived parent", "[cancel]") {
  CancellationToken root;
  std::atomic<int> ran{0};
  for (int i = 0; i < 1000; ++i) {
    auto c = root.child();
    CancelCallback cb(c, [&] { ran.fetch_add(1); });
  }
  root.cancel();
  CHECK(ran.load() == 0);  // every child and callback was gone before
}

TEST_CASE("token: callbacks run once in registration order, or at once when late", "[cancel]") {
  CancellationToken t;
  std::vector<int> order;
  CancelCallback c1(t, [&] { order.push_back(1); });
  std::optional<CancelCallback<std::function<void()>>> c2;
  c2.emplace(t, std::function<void()>([&] { order.push_back(2); }));
  CancelCallback c3(t, [&] { order.push_back(3); });
  c2.reset();  // deregistered: never runs
  t.cancel();
  t.cancel();
  CHECK(order == std::vector<int>{1, 3});
  CancelCallback late(t, [&] { order.push_back(4); });  // already cancelled
  CHECK(order == std::vector<int>{1, 3, 4});
}

TEST_CASE("token: a token cancelled during its own callback neither deadlocks nor re-runs",
          "[cancel]") {
  Watchdog wd("cancel re-entrancy");
  CancellationToken t;
  int runs = 0;
  bool second = true;
  bool child_born_cancelled = false;
  int nested = 0;
  std::optional<CancelCallback<std::function<void()>>> self;
  std::function<void()> f = [&] {
    ++runs;
    second = t.cancel();  // re-entrant: already cancelled, returns false
    child_born_cancelled = t.child().is_cancelled();
    CancelCallback inner(t, [&] { ++nested; });  // runs at once
    self.reset();                                // destroys its own registration from inside itself
  };
  self.emplace(t, f);
  CHECK(t.cancel());
  CHECK(runs == 1);
  CHECK_FALSE(second);
  CHECK(child_born_cancelled);
  CHECK(nested == 1);
  CHECK_FALSE(self.has_value());
}

TEST_CASE("token: a callback that cancels its parent (cycle through the tree)", "[cancel]") {
  CancellationToken root;
  auto kid = root.child();
  int root_runs = 0;
  CancelCallback on_root(root, [&] { ++root_runs; });
  CancelCallback on_kid(kid, [&] { root.cancel(); });
  kid.cancel();
  CHECK(root.is_cancelled());
  CHECK(root_runs == 1);
}

TEST_CASE("token: destroying a callback while another thread runs it waits for it", "[cancel]") {
  Watchdog wd("callback destroy wait");
  CancellationToken t;
  std::atomic<int> stage{0};
  bool finished = false;
  auto cb = std::make_unique<CancelCallback<std::function<void()>>>(
      t, std::function<void()>([&] {
        stage.store(1);
        while (stage.load() != 2) std::this_thread::yield();
        finished = true;  // plain write: the destructor must wait for it
      }));
  std::thread canceller([&] { t.cancel(); });
  while (stage.load() != 1) std::this_thread::yield();
  std::thread releaser([&] {
    // Lets the callback finish only after the destructor started waiting
    // (or soon after: either order must be safe).
    std::this_thread::yield();
    stage.store(2);
  });
  cb.reset();
  CHECK(finished);
  releaser.join();
  canceller.join();
}

TEST_CASE("token: cancelled() from a coroutine, a fiber, a plain thread and a spawned future",
          "[cancel]") {
  Watchdog wd("cancelled faces");
  Runtime rt(duet::test::unpinned_config());
  CancellationToken root;
  auto t = root.child();
  std::atomic<int> parked{0};
  auto coro = rt.spawn(await_cancelled(t));
  auto fib = rt.spawn(stackful, [t, &parked] {
    duet::wait(duet::test::note_pending(t.cancelled(), &parked));
    return 2;
  });
  auto fut = rt.spawn(duet::test::note_pending(t.cancelled(), &parked));
  std::atomic<int> plain{0};
  std::thread th([&] {
    duet::wait(duet::test::note_pending(t.cancelled(), &parked));
    plain.store(3);
  });
  while (parked.load() < 3) std::this_thread::yield();
  CHECK(plain.load() == 0);
  CHECK_FALSE(fib.is_finished());
  root.cancel();
  th.join();
  CHECK(plain.load() == 3);
  CHECK(coro.join() == 1);
  CHECK(fib.join() == 2);
  fut.join();
}

TEST_CASE("token: a pending cancelled() future dropped before the cancel", "[cancel]") {
  Watchdog wd("cancelled drop");
  Runtime rt(duet::test::unpinned_config());
  CancellationToken t;
  std::atomic<int> parked{0};
  auto h = rt.spawn(duet::test::note_pending(t.cancelled(), &parked));
  while (parked.load() < 1) std::this_thread::yield();
  h.cancel();  // drops the pending future: its waiter unlinks
  CHECK_THROWS_AS(h.join(), duet::Cancelled);
  CHECK(t.cancel());
}

TEST_CASE("token: a deadline cancels the token, on a plain thread and in a task",
          "[cancel][deadline]") {
  Watchdog wd("deadline");
  CancellationToken root;
  auto t = CancellationToken::with_timeout(root, 20ms);
  REQUIRE(t.deadline().has_value());
  CHECK_FALSE(root.deadline().has_value());
  duet::wait(t.cancelled());  // plain thread: the process timer fires it
  CHECK(t.is_cancelled());
  CHECK(Clock::now() >= *t.deadline());
  CHECK_FALSE(root.is_cancelled());  // the deadline is the child's alone

  Runtime rt(duet::test::unpinned_config());
  auto h = rt.spawn([](CancellationToken r) -> Task<bool> {
    auto d = CancellationToken::with_deadline(r, Clock::now() + 10ms);
    co_await d.cancelled();
    co_return Clock::now() >= *d.deadline();
  }(root));
  CHECK(h.join());
}

TEST_CASE("token: a deadline inherits the parent's earlier one and a past one fires at once",
          "[cancel][deadline]") {
  CancellationToken root;
  auto far = CancellationToken::with_timeout(root, 1h);
  auto near = Clock::now() + 30min;
  auto inner = CancellationToken::with_deadline(far, Clock::now() + 2h);
  CHECK(*inner.deadline() == *far.deadline());  // the earlier (parent's) one
  auto tighter = CancellationToken::with_deadline(far, near);
  CHECK(*tighter.deadline() == near);
  CHECK(far.child().deadline() == far.deadline());
  auto past = CancellationToken::with_deadline(root, Clock::now() - 1s);
  CHECK(past.is_cancelled());
  // A parent cancel beats the deadline; dropping the token disarms its timer.
  far.cancel();
  CHECK(inner.is_cancelled());
}

TEST_CASE("token: a huge timeout is no deadline, a huge negative one has passed",
          "[cancel][deadline]") {
  CancellationToken root;
  auto ns = CancellationToken::with_timeout(root, std::chrono::nanoseconds::max());
  auto hours = CancellationToken::with_timeout(root, std::chrono::hours::max());
  auto never = CancellationToken::with_deadline(root, Instant::max());
  for (const CancellationToken* t : {&ns, &hours, &never}) {
    CHECK_FALSE(t->is_cancelled());
    CHECK_FALSE(t->deadline().has_value());
  }
  // Under a parent with a deadline, the parent's stays the child's.
  auto hour = CancellationToken::with_timeout(root, 1h);
  auto kid = CancellationToken::with_timeout(hour, std::chrono::seconds::max());
  CHECK_FALSE(kid.is_cancelled());
  REQUIRE(kid.deadline().has_value());
  CHECK(*kid.deadline() == *hour.deadline());
  auto gone = CancellationToken::with_timeout(root, std::chrono::hours::min());
  CHECK(gone.is_cancelled());
  // A token with no deadline is still cancelled through its parent.
  root.cancel();
  CHECK(ns.is_cancelled());
  CHECK(never.is_cancelled());
}

TEST_CASE("token: from a std::stop_token (std::stop_callback cancels it)", "[cancel][stop]") {
  std::stop_source src;
  auto t = CancellationToken::from_stop_token(src.get_token());
  auto kid = t.child();
  CHECK_FALSE(t.is_cancelled());
  src.request_stop();
  CHECK(t.is_cancelled());
  CHECK(kid.is_cancelled());
  std::stop_source done;
  done.request_stop();
  CHECK(CancellationToken::from_stop_token(done.get_token()).is_cancelled());
  // A std::jthread's token.
  Watchdog wd("jthread");
  std::atomic<bool> saw{false};
  {
    std::jthread j([&](std::stop_token st) {
      auto tok = CancellationToken::from_stop_token(st);
      duet::wait(tok.cancelled());
      saw.store(true);
    });
  }  // ~jthread requests stop, then joins
  CHECK(saw.load());
}

TEST_CASE("token: to a std::stop_token (its stop_source is stopped by the token)",
          "[cancel][stop]") {
  CancellationToken root;
  auto t = root.child();
  std::stop_token st = t.stop_token();
  std::stop_token st2 = t.stop_token();  // the same source
  CHECK_FALSE(st.stop_requested());
  bool called = false;
  std::stop_callback cb(st, [&] { called = true; });
  root.cancel();
  CHECK(st.stop_requested());
  CHECK(st2.stop_requested());
  CHECK(called);
  CHECK(t.stop_token().stop_requested());  // made after the cancel
  CancellationToken gone;
  gone.cancel();
  CHECK(gone.stop_token().stop_requested());
}

TEST_CASE("token: cancel a parent while children are created and dropped concurrently",
          "[cancel][stress]") {
  Watchdog wd("token stress", std::chrono::seconds(200));
  const int rounds = duet::test::sanitized ? 60 : 300;
  for (int r = 0; r < rounds; ++r) {
    CancellationToken root;
    std::atomic<bool> go{false};
    std::atomic<bool> cascaded{false};  // root.cancel() returned
    std::atomic<int> missed{0};
    std::vector<std::thread> makers;
    for (int k = 0; k < 3; ++k) {
      makers.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        std::vector<CancellationToken> kept;
        std::atomic<int> fired{0};
        std::vector<std::unique_ptr<CancelCallback<std::function<void()>>>> cbs;
        for (int i = 0; i < 40; ++i) {
          auto c = root.child();
          if (i % 2 == 0) {
            cbs.push_back(std::make_unique<CancelCallback<std::function<void()>>>(
                c, std::function<void()>([&fired] { fired.fetch_add(1); })));
            kept.push_back(c);
          }
          if (i % 3 == 0) (void)c.child().stop_token();
        }
        // Every kept child is cancelled once root.cancel() has returned
        // (is_cancelled() on root alone may be seen mid-cascade).
        while (!cascaded.load()) std::this_thread::yield();
        for (auto& c : kept) {
          if (!c.is_cancelled()) missed.fetch_add(1);
        }
        if (fired.load() != static_cast<int>(cbs.size())) missed.fetch_add(1);
      });
    }
    go.store(true);
    std::this_thread::yield();
    root.cancel();
    cascaded.store(true);
    for (auto& m : makers) m.join();
    REQUIRE(missed.load() == 0);
  }
}

namespace {

/// A waker that counts its wakes (data: the counter).
const WakerVTable kCountingVt{
    [](void*) {}, [](void* d) { static_cast<std::atomic<int>*>(d)->fetch_add(1); },
    [](void* d) { static_cast<std::atomic<int>*>(d)->fetch_add(1); }, [](void*) {}};

Waker counting_waker(std::atomic<int>& n) {
  return Waker::adopt(&n, &kCountingVt);
}

/// Spins the select over a kept cancelled() future and a Notify `rounds`
/// times, then waits for the token alone: what a connection loop does.
Task<int> kept_across_selects(CancellationToken t, Notify& ping, std::atomic<int>& rounds) {
  CancelledFuture stop = t.cancelled();
  for (;;) {
    auto s = select(biased, stop, ping.notified());
    auto m = co_await s;
    if (m.index() == 0) co_return rounds.load();
    rounds.fetch_add(1);
  }
}

}  // namespace

TEST_CASE("token: a cancelled() future re-polled by the task it is registered for", "[cancel]") {
  CancellationToken t;
  std::atomic<int> a{0}, b{0};
  Waker wa = counting_waker(a), wb = counting_waker(b);
  CancelledFuture f = t.cancelled();
  Context ca(wa), cb(wb);
  CHECK(f.poll(ca).is_pending());
  CHECK(f.poll(ca).is_pending());  // registered for a: nothing changes
  CHECK(f.poll(cb).is_pending());  // another task: the registration follows it
  CHECK(f.poll(cb).is_pending());
  CHECK(t.cancel());
  CHECK(a.load() == 0);
  CHECK(b.load() == 1);  // the last task to poll is the one woken, once
  CHECK(f.poll(ca).is_ready());
  // Back to the first waker before the cancel: it is the one woken.
  CancellationToken u;
  CancelledFuture g = u.cancelled();
  CHECK(g.poll(ca).is_pending());
  CHECK(g.poll(cb).is_pending());
  CHECK(g.poll(ca).is_pending());
  CHECK(u.cancel());
  CHECK(a.load() == 1);
  CHECK(b.load() == 1);
  std::move(wa).release();
  std::move(wb).release();
}

TEST_CASE("token: a future kept across selects sees a cancel at any point", "[cancel][stress]") {
  // The kept future's re-polls take no lock: a cancel racing them must
  // still wake the task (TSan checks the flag's and the list's orders).
  Watchdog wd("kept cancelled");
  Runtime rt(duet::test::unpinned_config());
  for (int i = 0; i < 200; ++i) {
    CancellationToken t;
    Notify ping;
    std::atomic<int> rounds{0};
    auto h = rt.spawn(kept_across_selects(t, ping, rounds));
    const int cut = i % 7;
    for (int k = 0; k < cut; ++k) {
      ping.notify_one();
      while (rounds.load() < k + 1) std::this_thread::yield();  // observable: the round ran
    }
    t.cancel();
    CHECK(h.join() == cut);
  }
}

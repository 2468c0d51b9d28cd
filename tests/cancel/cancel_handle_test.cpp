// duet::CancelHandle (Tokio's AbortHandle, issue 72): a copyable handle,
// made by JoinHandle::cancel_handle(), with which another task or thread
// cancels a task through JoinHandle::cancel's own path; and
// JoinHandle::outcome(), the join as the task's Outcome<T>, which says
// is_cancelled() without a catch. Both models: coroutine and fiber
// children, cancelled from a coroutine, a fiber and a plain thread.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace cancel_handle {

/// Counts its destruction: a cancelled child's frame or fiber stack was
/// torn down.
struct Gone {
  std::atomic<int>* n;
  ~Gone() { n->fetch_add(1); }
};

duet::Task<int> parked_coroutine(duet::Notify* never, std::atomic<int>* gone,
                                 std::atomic<bool>* started) {
  Gone g{gone};
  started->store(true);
  co_await never->notified();
  co_return 1;
}

/// A coroutine that cancels `stop` (a copy of a CancelHandle it was given).
duet::Task<void> cancel_from_coroutine(duet::CancelHandle stop) {
  co_await duet::yield_now();
  stop.cancel();
}

duet::Task<bool> outcome_is_cancelled(duet::JoinHandle<int> h) {
  duet::Outcome<int> out = co_await h.outcome();
  co_return out.is_cancelled() && !out.has_exception() && !h.valid();
}

duet::Task<int> outcome_value(duet::JoinHandle<int> h) {
  duet::Outcome<int> out = co_await h.outcome();
  co_return out.is_cancelled() ? -1 : out.take();
}

}  // namespace cancel_handle

TEST_CASE("CancelHandle: another coroutine cancels a parked coroutine child", "[cancel_handle]") {
  duet::test::Watchdog wd("cancel handle coroutine", std::chrono::seconds(60));
  duet::Notify never;  // before the runtime: its end cancels what waits on it
  std::atomic<int> gone{0};
  duet::Runtime rt(duet::test::cpu_only_config(2));
  std::atomic<bool> started{false};
  auto h = rt.spawn(cancel_handle::parked_coroutine(&never, &gone, &started));
  while (!started.load()) std::this_thread::yield();  // its frame holds a Gone
  duet::CancelHandle stop = h.cancel_handle();
  REQUIRE(stop.valid());
  CHECK_FALSE(stop.is_finished());
  duet::CancelHandle copy = stop;  // copies share the task
  rt.spawn(cancel_handle::cancel_from_coroutine(copy)).join();
  // The join tells the cancellation without a catch; the frame is gone.
  CHECK(rt.spawn(cancel_handle::outcome_is_cancelled(std::move(h))).join());
  CHECK(gone.load() == 1);
  CHECK(stop.is_finished());  // still usable after the handle was joined
  stop.cancel();              // on a finished task: a no-op
  copy.cancel();
}

TEST_CASE("CancelHandle: a fiber and a plain thread cancel a parked fiber child",
          "[cancel_handle]") {
  duet::test::Watchdog wd("cancel handle fiber", std::chrono::seconds(60));
  duet::Notify never;  // before the runtime: its end cancels what waits on it
  std::atomic<int> gone{0};
  duet::Runtime rt(duet::test::cpu_only_config(2));
  std::atomic<int> started{0};
  // A fiber that has started (so that its cancellation unwinds a stack,
  // not a function never run).
  auto spawn_parked = [&] {
    const int before = started.load();
    auto h = rt.spawn(duet::stackful, [&never, &gone, &started] {
      cancel_handle::Gone g{&gone};
      started.fetch_add(1);
      duet::wait(never.notified());
      return 1;
    });
    while (started.load() == before) std::this_thread::yield();
    return h;
  };
  // From a fiber.
  auto h = spawn_parked();
  duet::CancelHandle stop = h.cancel_handle();
  rt.spawn(duet::stackful, [stop] { stop.cancel(); }).join();
  auto joined = rt.spawn(duet::stackful, [&h] {
                    duet::Outcome<int> out = duet::wait(h.outcome());
                    return out.is_cancelled();
                  }).join();
  CHECK(joined);
  CHECK(gone.load() == 1);  // the fiber's stack was unwound
  CHECK(stop.is_finished());
  // From a plain thread, while the JoinHandle was dropped (detached).
  auto k = spawn_parked();
  duet::CancelHandle other = k.cancel_handle();
  k.detach();
  std::thread([other] { other.cancel(); }).join();
  while (!other.is_finished()) std::this_thread::yield();
  CHECK(gone.load() == 2);
  // The plain join of a cancelled task still throws Cancelled.
  auto m = spawn_parked();
  m.cancel_handle().cancel();
  CHECK_THROWS_AS(m.join(), duet::Cancelled);
}

TEST_CASE("CancelHandle: on a finished task and when empty it does nothing", "[cancel_handle]") {
  duet::test::Watchdog wd("cancel handle finished", std::chrono::seconds(60));
  duet::Runtime rt(duet::test::cpu_only_config(2));
  auto h = rt.spawn(duet::stackful, [] { return 5; });
  duet::CancelHandle stop = h.cancel_handle();
  while (!stop.is_finished()) std::this_thread::yield();
  stop.cancel();  // finished first: the value stands
  CHECK(rt.spawn(cancel_handle::outcome_value(std::move(h))).join() == 5);
  // An empty handle: the default one, a moved-from one, one of an empty
  // JoinHandle. Each does nothing and says not finished.
  duet::CancelHandle none;
  duet::CancelHandle moved = std::move(stop);
  duet::JoinHandle<int> empty;
  const duet::CancelHandle of_empty = empty.cancel_handle();
  const duet::CancelHandle* const empties[] = {&none, &stop, &of_empty};
  for (const duet::CancelHandle* c : empties) {
    CHECK_FALSE(c->valid());
    CHECK_FALSE(c->is_finished());
    c->cancel();
  }
  CHECK(moved.is_finished());
  // outcome() of an empty handle is the plain join's logic_error.
  CHECK_THROWS_AS(duet::wait(empty.outcome()), std::logic_error);
}

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <duet/sync/mutex.hpp>
#include <duet/time/sleep.hpp>
#include <duet/time/timeout.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "sched/scheduler.hpp"
#include "sched/worker.hpp"
#include "sync_util.hpp"
#include "time/wheel.hpp"

using namespace duet;
using namespace duet::synctest;
using duet::detail::TimerEntry;
using duet::detail::TimerWheel;

namespace {

/// Timers pending in the runtime's workers' wheels (size() is readable from
/// any thread).
std::size_t pending_timers(Runtime& rt) {
  std::size_t n = 0;
  for (auto& w : duet::detail::scheduler_of(rt)->workers) n += w->timers.size();
  return n;
}

}  // namespace

TEST_CASE("wheel: entries fire in deadline order and never before their tick", "[time]") {
  TimerWheel wheel(1000);
  CountingWaker cw;
  CountingWaker::Cx c(cw);
  // Deadlines spread over several levels, inserted out of order.
  std::vector<std::uint64_t> ticks = {1001,   1063, 1064,        5000,       1500,     70000,
                                      300000, 1002, 4096 + 1000, 262144 + 5, 1u << 24, 999999};
  std::vector<TimerEntry> es(ticks.size());
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    es[i].tick = ticks[i];
    REQUIRE(wheel.insert(es[i], c.w));
  }
  std::vector<std::uint64_t> sorted = ticks;
  std::sort(sorted.begin(), sorted.end());
  // Advance one tick at a time around each deadline: nothing fires early.
  std::size_t fired = 0;
  for (std::uint64_t want : sorted) {
    wheel.advance(want - 1);
    for (std::size_t i = 0; i < es.size(); ++i) {
      if (es[i].tick >= want) CHECK(es[i].state.load() != TimerEntry::fired);
    }
    REQUIRE(wheel.next_deadline().value() <= want);
    wheel.advance(want);
    for (std::size_t i = 0; i < es.size(); ++i) {
      if (es[i].tick == want) CHECK(es[i].state.load() == TimerEntry::fired);
    }
    ++fired;
  }
  CHECK(wheel.size() == 0);
  CHECK(cw.wakes.load() == static_cast<int>(ticks.size()));
  CHECK(cw.refs.load() == 0);
}

TEST_CASE("wheel: cancel removes an entry and drops its waker", "[time]") {
  TimerWheel wheel(0);
  CountingWaker cw;
  CountingWaker::Cx c(cw);
  TimerEntry a, b;
  a.tick = 100;
  b.tick = 100000;
  REQUIRE(wheel.insert(a, c.w));
  REQUIRE(wheel.insert(b, c.w));
  CHECK(cw.refs.load() == 2);
  wheel.cancel(a);
  wheel.cancel(b);
  CHECK(cw.refs.load() == 0);
  CHECK(wheel.size() == 0);
  CHECK_FALSE(wheel.next_deadline().has_value());
  wheel.advance(1u << 30);
  CHECK(cw.wakes.load() == 0);
  TimerEntry past;
  past.tick = 5;
  CHECK_FALSE(wheel.insert(past, c.w));  // already expired: nothing registered
}

TEST_CASE("wheel: a random mix of inserts, cancels and advances keeps order", "[time]") {
  TimerWheel wheel(12345);
  CountingWaker cw;
  CountingWaker::Cx c(cw);
  constexpr int n = 2000;
  std::vector<TimerEntry> es(n);
  std::uint64_t rng = 88172645463325252ull;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  std::uint64_t now = 12345;
  for (int i = 0; i < n; ++i) {
    es[i].tick = now + 1 + next() % (1u << (next() % 30));
    REQUIRE(wheel.insert(es[i], c.w));
  }
  for (int i = 0; i < n; i += 3) wheel.cancel(es[i]);
  std::uint64_t last_fired_tick = 0;
  while (wheel.size() > 0) {
    now += next() % (1u << (next() % 24)) + 1;
    wheel.advance(now);
    for (int i = 0; i < n; ++i) {
      if (i % 3 == 0) {
        CHECK(es[i].state.load() == TimerEntry::idle);
        continue;
      }
      auto st = es[i].state.load();
      if (es[i].tick <= now) {
        REQUIRE(st == TimerEntry::fired);
      } else {
        REQUIRE(st == TimerEntry::registered);
      }
    }
    (void)last_fired_tick;
  }
  CHECK(cw.refs.load() == 0);
}

TEST_CASE("sleep: off the runtime (fallback timer thread) is not early", "[time]") {
  auto t0 = Clock::now();
  duet::wait(duet::sleep(20ms));
  CHECK(Clock::now() - t0 >= 20ms);
}

TEST_CASE("sleep: coroutines and fibers all wake, never early", "[time]") {
  Watchdog wd("sleep order");
  Runtime rt(small_rt(2));
  std::mutex mu;
  std::vector<int> order;
  std::vector<JoinHandle<void>> hs;
  auto t0 = Clock::now();
  for (int i = 5; i >= 1; --i) {
    hs.push_back(
        rt.spawn([](int i, std::mutex& mu, std::vector<int>& order, Instant t0) -> Task<void> {
          co_await duet::sleep_until(t0 + i * 15ms);
          TCHECK(Clock::now() >= t0 + i * 15ms);
          std::lock_guard g(mu);
          order.push_back(i);
        }(i, mu, order, t0)));
    hs.push_back(rt.spawn(duet::stackful, [i, &mu, &order, t0] {
      duet::wait(duet::sleep_until(t0 + i * 15ms + 7ms));
      TCHECK(Clock::now() >= t0 + i * 15ms + 7ms);
      std::lock_guard g(mu);
      order.push_back(100 + i);
    }));
  }
  for (auto& h : hs) h.join();
  std::vector<int> want;
  for (int i = 1; i <= 5; ++i) {
    want.push_back(i);
    want.push_back(100 + i);
  }
  // Deadline order of *firing* is the wheel's job (tested above, tick by
  // tick); which woken task runs first across two workers and the LIFO slot
  // is a scheduling matter, so only completeness is checked here.
  std::sort(order.begin(), order.end());
  std::sort(want.begin(), want.end());
  CHECK(order == want);
}

TEST_CASE("timeout: a past deadline is decided in one poll, closed and timed out stay apart",
          "[time]") {
  Watchdog wd("timeout zero");
  Runtime rt(small_rt(1));
  auto ch = Channel<int>::bounded(0);
  const std::uint64_t polls_before = rt.stats()[0].polls;
  auto zero = rt.spawn([](Channel<int> ch) -> Task<int> {
    // The example of duet/time/timeout.hpp.
    auto v = co_await duet::timeout(0ns, ch.recv());  // Result<optional<int>>
    if (!v) co_return 0;                              // timed out
    co_return *v ? **v : -1;                          // a value, or closed
  }(ch));
  CHECK(zero.join() == 0);
  // It ran once: the timeout never parked for a timer tick.
  CHECK(rt.stats()[0].polls - polls_before == 1);
  CHECK(pending_timers(rt) == 0);
  // A past sleep does not wait for the wheel either.
  auto nap = rt.spawn([]() -> Task<int> {
    co_await duet::sleep(0ns);
    co_await duet::sleep_until(duet::Clock::now() - 1s);
    co_return 1;
  }());
  CHECK(nap.join() == 1);
  CHECK(rt.stats()[0].polls - polls_before == 2);
  // Closed is not "timed out".
  ch.close();
  auto closed = rt.spawn([](Channel<int> ch) -> Task<int> {
    auto v = co_await duet::timeout(1h, ch.recv());
    co_return !v ? 0 : (*v ? **v : -1);
  }(ch));
  CHECK(closed.join() == -1);
}

TEST_CASE("timeout: the operation wins or the deadline does", "[time]") {
  Watchdog wd("timeout");
  Runtime rt(small_rt(2));
  Mutex m;
  auto g = m.try_lock();
  REQUIRE(g);
  // Held: times out, and the withdrawn waiter leaves the mutex usable.
  auto r = rt.spawn([](Mutex& m) -> Task<bool> {
    auto got = co_await duet::timeout(10ms, m.lock());
    co_return got.has_value();
  }(m));
  CHECK_FALSE(r.join());
  auto f = rt.spawn(duet::stackful,
                    [&m] { return duet::wait(duet::timeout(10ms, m.lock())).has_value(); });
  CHECK_FALSE(f.join());
  g.unlock();
  auto ok = rt.spawn([](Mutex& m) -> Task<bool> {
    auto got = co_await duet::timeout(10s, m.lock());
    co_return got.has_value();
  }(m));
  CHECK(ok.join());
  CHECK_FALSE(m.is_locked());
}

namespace {

/// An operation that fails by itself with ETIMEDOUT, at once (as a
/// connect or a DNS lookup with its own limit does).
Task<duet::Result<int>> fails_timed_out() {
  co_return std::errc::timed_out;
}

/// Waits on `gate` (never notified here), then answers `v`.
Task<duet::Result<int>> answers_after(Notify* gate, int v) {
  co_await gate->notified();
  co_return v;
}

/// Waits on `gate` (never notified here), then answers `v`, a plain int.
Task<int> plain_after(Notify* gate, int v) {
  co_await gate->notified();
  co_return v;
}

/// What a timeout's answer says: "own" for the operation's own ETIMEDOUT,
/// "elapsed" for the deadline, "value" for a value. Both kinds of error
/// compare equal to std::errc::timed_out; only the deadline is elapsed.
template <class R>
std::string told(const R& r) {
  if (r) return "value";
  if (r.error() != std::errc::timed_out) return "other: " + r.error().message();
  if (duet::is_elapsed(r.error()) != (r.error() == duet::TimeoutErrc::elapsed)) return "mixed";
  return duet::is_elapsed(r.error()) ? "elapsed" : "own";
}

}  // namespace

TEST_CASE("timeout: an operation's own timed_out is not the deadline's elapsed, in both models",
          "[time]") {
  Watchdog wd("timeout elapsed");
  Runtime rt(small_rt(2));
  Notify never;
  auto coro = rt.spawn([](Notify* gate) -> Task<std::string> {
    auto own = co_await duet::timeout(1h, fails_timed_out());  // Result<int>, flat
    auto deadline = co_await duet::timeout_at(Clock::now(), answers_after(gate, 7));
    co_return told(own) + "|" + told(deadline);
  }(&never));
  CHECK(coro.join() == "own|elapsed");
  auto fiber = rt.spawn(duet::stackful, [&never] {
    auto own = duet::wait(duet::timeout(1h, fails_timed_out()));
    auto deadline = duet::wait(duet::timeout_at(Clock::now(), answers_after(&never, 7)));
    return told(own) + "|" + told(deadline);
  });
  CHECK(fiber.join() == "own|elapsed");
  // The error of the deadline names itself.
  const std::error_code e = duet::TimeoutErrc::elapsed;
  CHECK(std::string(e.category().name()) == "duet.timeout");
  CHECK(e.message() == "deadline elapsed");
  CHECK(e.default_error_condition() == std::errc::timed_out);
  CHECK_FALSE(duet::is_elapsed(std::make_error_code(std::errc::timed_out)));
  CHECK_FALSE(duet::is_elapsed(std::error_code()));
}

TEST_CASE("timeout: a void or plain operation gives a Result whose error is elapsed", "[time]") {
  Watchdog wd("timeout shapes");
  Runtime rt(small_rt(2));
  Notify never;
  static_assert(
      std::is_same_v<decltype(duet::timeout(1s, never.notified()))::Output, duet::Result<void>>);
  static_assert(std::is_same_v<decltype(duet::timeout(1s, plain_after(&never, 1)))::Output,
                               duet::Result<int>>);
  static_assert(std::is_same_v<decltype(duet::timeout(1s, answers_after(&never, 1)))::Output,
                               duet::Result<int>>);
  auto coro = rt.spawn([](Notify* gate) -> Task<std::string> {
    duet::Result<void> v = co_await duet::timeout_at(Clock::now(), gate->notified());
    duet::Result<int> p = co_await duet::timeout_at(Clock::now(), plain_after(gate, 3));
    duet::Result<int> won = co_await duet::timeout(1h, [](int x) -> Task<int> { co_return x; }(5));
    co_return told(v) + "|" + told(p) + "|" + told(won) + std::to_string(*won);
  }(&never));
  CHECK(coro.join() == "elapsed|elapsed|value5");
  auto fiber = rt.spawn(duet::stackful, [&never] {
    duet::Result<void> v = duet::wait(duet::timeout_at(Clock::now(), never.notified()));
    duet::Result<int> p = duet::wait(duet::timeout_at(Clock::now(), plain_after(&never, 3)));
    never.notify_one();  // stored: the next notified() is ready at once
    duet::Result<void> woke = duet::wait(duet::timeout(1h, never.notified()));
    return told(v) + "|" + told(p) + "|" + told(woke);
  });
  CHECK(fiber.join() == "elapsed|elapsed|value");
}

TEST_CASE("sleep: cancelling a sleeping task removes its timer", "[time][cancel]") {
  Watchdog wd("sleep cancel");
  Runtime rt(small_rt(2));
  auto a = rt.spawn([]() -> Task<int> {
    co_await duet::sleep(1h);
    co_return 1;
  }());
  auto b = rt.spawn(duet::stackful, [] {
    duet::wait(duet::sleep(1h));
    return 2;
  });
  // Both sleeps are registered in a worker's timer wheel.
  while (pending_timers(rt) < 2) std::this_thread::yield();
  a.cancel();
  b.cancel();
  CHECK_THROWS_AS(a.join(), Cancelled);
  CHECK_THROWS_AS(b.join(), Cancelled);
  // Cancelling unlinked both timers: an hour-long deadline is not kept.
  CHECK(pending_timers(rt) == 0);
}

// ---- a huge duration (issue 72): a deadline that saturates means "never" --

namespace duet::synctest {

/// Gives 7 once `gate` is notified; counts in `parked` that it waits.
Task<int> seven_when_notified(Notify* gate, std::atomic<int>* parked) {
  co_await duet::test::note_pending(gate->notified(), parked);
  co_return 7;
}

/// Bounds seven_when_notified by timeout(d, ...) in a coroutine.
template <class D>
Task<duet::Result<int>> huge_timeout_coro(D d, Notify* gate, std::atomic<int>* parked) {
  co_return co_await duet::timeout(d, seven_when_notified(gate, parked));
}

/// The index of the case that won a biased select of sleep(d) against a
/// 20 ms sleep, in a coroutine.
template <class D>
Task<std::size_t> huge_sleep_coro(D d) {
  auto r = co_await duet::select(duet::biased, duet::sleep(d), duet::sleep(20ms));
  co_return r.index();
}

/// Runs `check(d, what)` for every huge duration, of several types: those
/// past nanoseconds' range overflowed in a plain duration_cast.
template <class Check>
void for_each_huge_duration(Check check) {
  check(std::chrono::nanoseconds::max(), "nanoseconds::max()");
  check(std::chrono::seconds::max(), "seconds::max()");
  check(std::chrono::hours::max(), "hours::max()");
  check(std::chrono::duration<double>(1e300), "1e300 s as a double");
}

}  // namespace duet::synctest

TEST_CASE("timeout: a huge duration never fires and gives the operation's value", "[time]") {
  Watchdog wd("timeout huge");
  Runtime rt(small_rt(2));
  for_each_huge_duration([&rt](auto d, const char* what) {
    INFO(what);
    {
      Notify gate;
      std::atomic<int> parked{0};
      auto h = rt.spawn(huge_timeout_coro(d, &gate, &parked));
      while (parked.load() == 0) std::this_thread::yield();
      gate.notify_one();
      CHECK(h.join() == duet::Result<int>(7));
    }
    {
      Notify gate;
      std::atomic<int> parked{0};
      auto h = rt.spawn(duet::stackful, [d, &gate, &parked] {
        return duet::wait(duet::timeout(d, seven_when_notified(&gate, &parked)));
      });
      while (parked.load() == 0) std::this_thread::yield();
      gate.notify_one();
      CHECK(h.join() == duet::Result<int>(7));
    }
  });
}

TEST_CASE("sleep: a huge duration loses to a 20 ms sleep, in both models and off the runtime",
          "[time]") {
  Watchdog wd("sleep huge");
  Runtime rt(small_rt(2));
  for_each_huge_duration([&rt](auto d, const char* what) {
    INFO(what);
    CHECK(duet::sleep(d).deadline() == Instant::max());
    CHECK(rt.spawn(huge_sleep_coro(d)).join() == 1);
    auto fiber = rt.spawn(duet::stackful, [d] {
      return duet::wait(duet::select(duet::biased, duet::sleep(d), duet::sleep(20ms))).index();
    });
    CHECK(fiber.join() == 1);
    CHECK(duet::wait(duet::select(duet::biased, duet::sleep(d), duet::sleep(20ms))).index() == 1);
  });
  // A negative duration keeps its meaning, however large: already passed.
  CHECK(duet::sleep(std::chrono::hours::min()).deadline() == Instant::min());
  CHECK(rt.spawn(huge_sleep_coro(std::chrono::hours::min())).join() == 0);
  CHECK(rt.spawn(huge_sleep_coro(-1s)).join() == 0);
}

TEST_CASE("wheel: the farthest deadline stays pending, never fires, and its park is bounded",
          "[time]") {
  const std::uint64_t now = duet::detail::now_tick();
  TimerWheel wheel(now);
  CountingWaker cw;
  CountingWaker::Cx c(cw);
  TimerEntry far;
  far.tick = duet::detail::tick_ceil(Instant::max() - 1ns);
  REQUIRE(wheel.insert(far, c.w));
  // Every level's boundary up to an hour, a day and a year away: nothing
  // fires (cascades only), and each advance returns.
  for (std::uint64_t ahead :
       {std::uint64_t{1} << 6, std::uint64_t{1} << 12, std::uint64_t{1} << 18,
        std::uint64_t{1} << 24, std::uint64_t{1} << 30, std::uint64_t{1} << 36,
        std::uint64_t{1} << 42, std::uint64_t{1} << 45}) {
    CHECK(wheel.advance(now + ahead) == 0);
  }
  CHECK(wheel.size() == 1);
  CHECK(cw.wakes.load() == 0);
  // The park's timeout is positive and can be added to a clock reading (a
  // condition variable's wait_for does) without overflowing.
  const auto t = wheel.park_timeout();
  REQUIRE(t.has_value());
  CHECK(t->count() > 0);
  CHECK(*t <= std::chrono::nanoseconds::max() - Clock::now().time_since_epoch());
  wheel.cancel(far);
  CHECK(wheel.size() == 0);
  CHECK(cw.refs.load() == 0);
}

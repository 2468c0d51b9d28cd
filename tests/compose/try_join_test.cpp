// try_join's error values and try_join_all over a vector of JoinHandles
// (issue 72, Tokio's try_join! on Err and try_join_all): when every future
// gives a duet::Result, one holding an error ends the try_join at once with
// that error, and the others are dropped (a Task destroyed where it
// waits); try_join_all gives every value, or at the first failure (an
// exception, a cancellation, an error value) cancels the other tasks and
// gives that failure. Both models: awaited from a coroutine and from a
// fiber, over coroutine and fiber children.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/duet.hpp>
#include <duet/io/result.hpp>

#include "test_util.hpp"

namespace try_join_values {

using duet::Result;

struct Gone {
  std::atomic<int>* n;
  ~Gone() { n->fetch_add(1); }
};

Result<int> number(int v) {
  return v;
}
duet::Task<Result<int>> later(int v) {
  co_await duet::yield_now();
  co_return number(v);
}
duet::Task<Result<void>> refused() {
  co_await duet::yield_now();
  co_return std::errc::connection_refused;
}
duet::Task<Result<std::string>> never_ends(duet::Notify* never, std::atomic<int>* gone) {
  Gone g{gone};
  co_await never->notified();
  co_return std::string("never");
}

using Tried = Result<std::tuple<int, duet::Unit, std::string>>;
static_assert(std::is_same_v<duet::future_output_t<decltype(duet::try_join(
                                 later(1), refused(), never_ends(nullptr, nullptr)))>,
                             Tried>);

duet::Task<std::error_code> coro_try_join(duet::Notify* never, std::atomic<int>* gone) {
  Tried r = co_await duet::try_join(later(1), refused(), never_ends(never, gone));
  co_return r.error();
}

duet::Task<int> coro_try_join_ok() {
  auto r = co_await duet::try_join(later(2), later(3));
  co_return r ? std::get<0>(*r) + std::get<1>(*r) : -1;
}

/// A child that parks until cancelled; `gone` counts its end.
duet::JoinHandle<int> parked_fiber(duet::Runtime& rt, duet::Notify* never, std::atomic<int>* gone,
                                   std::atomic<int>* started) {
  return rt.spawn(duet::stackful, [never, gone, started] {
    Gone g{gone};
    started->fetch_add(1);
    duet::wait(never->notified());
    return 0;
  });
}
duet::JoinHandle<int> parked_coroutine(duet::Runtime& rt, duet::Notify* never,
                                       std::atomic<int>* gone, std::atomic<int>* started) {
  return rt.spawn([](duet::Notify* n, std::atomic<int>* g, std::atomic<int>* s) -> duet::Task<int> {
    Gone guard{g};
    s->fetch_add(1);
    co_await n->notified();
    co_return 0;
  }(never, gone, started));
}

duet::Task<std::string> coro_try_join_all(std::vector<duet::JoinHandle<int>> hs) {
  try {
    (void)co_await duet::try_join_all(std::move(hs));
  } catch (const std::runtime_error& e) {
    co_return e.what();
  }
  co_return "no exception";
}

}  // namespace try_join_values

using try_join_values::Gone;

TEST_CASE("try_join: a duet::Result holding an error ends it with that error", "[try_join]") {
  duet::test::Watchdog wd("try_join error value", std::chrono::seconds(60));
  duet::Notify never;  // before the runtime: its end cancels what waits on it
  std::atomic<int> gone{0};
  duet::Runtime rt(duet::test::cpu_only_config(2));
  // Coroutine: the never-ending branch is dropped with the try_join.
  CHECK(rt.spawn(try_join_values::coro_try_join(&never, &gone)).join() ==
        std::errc::connection_refused);
  CHECK(gone.load() == 1);
  CHECK(rt.spawn(try_join_values::coro_try_join_ok()).join() == 5);
  // Fiber, over spawned children of both kinds: the error ends it though a
  // child never finishes (borrowed handles stay the caller's).
  auto fiber = rt.spawn(duet::stackful, [&] {
    auto slow = rt.spawn(try_join_values::never_ends(&never, &gone));
    auto fails = rt.spawn(
        duet::stackful, [] { return try_join_values::Result<void>(std::errc::permission_denied); });
    auto r = duet::wait(duet::try_join(slow, fails));
    static_assert(
        std::is_same_v<decltype(r), try_join_values::Result<std::tuple<std::string, duet::Unit>>>);
    const bool still_running = slow.valid() && !slow.is_finished();
    slow.cancel();
    return still_running && r.error() == std::errc::permission_denied;
  });
  CHECK(fiber.join());
  // An exception still ends it as before.
  auto thrown = rt.spawn(duet::stackful, [] {
    try {
      (void)duet::wait(duet::try_join(try_join_values::later(1), [] {
        return duet::spawn(duet::stackful, []() -> try_join_values::Result<int> {
          throw std::runtime_error("thrown");
        });
      }()));
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  });
  CHECK(thrown.join() == "thrown");
}

TEST_CASE("try_join_all: every value, or the first failure cancels the rest", "[try_join]") {
  duet::test::Watchdog wd("try_join_all", std::chrono::seconds(60));
  duet::Notify never;  // before the runtime: its end cancels what waits on it
  std::atomic<int> gone{0};
  std::atomic<int> gone_started{0};
  duet::Runtime rt(duet::test::cpu_only_config(2));
  // Success: the values in handle order (coroutine).
  {
    std::vector<duet::JoinHandle<int>> hs;
    for (int i = 0; i < 4; ++i) hs.push_back(rt.spawn(duet::stackful, [i] { return i; }));
    auto all = rt.spawn([](std::vector<duet::JoinHandle<int>> v) -> duet::Task<std::vector<int>> {
                   co_return co_await duet::try_join_all(std::move(v));
                 }(std::move(hs)))
                   .join();
    CHECK(all == std::vector<int>{0, 1, 2, 3});
  }
  // A throw: rethrown, and the parked children (a fiber, a coroutine) are
  // cancelled (coroutine awaiting).
  {
    std::vector<duet::JoinHandle<int>> hs;
    hs.push_back(try_join_values::parked_fiber(rt, &never, &gone, &gone_started));
    hs.push_back(try_join_values::parked_coroutine(rt, &never, &gone, &gone_started));
    while (gone_started.load() < 2) std::this_thread::yield();  // each holds a Gone
    hs.push_back(rt.spawn(duet::stackful, []() -> int { throw std::runtime_error("third"); }));
    std::vector<duet::CancelHandle> watch{hs[0].cancel_handle(), hs[1].cancel_handle()};
    CHECK(rt.spawn(try_join_values::coro_try_join_all(std::move(hs))).join() == "third");
    for (auto& w : watch) {
      while (!w.is_finished()) std::this_thread::yield();
    }
    CHECK(gone.load() == 2);
  }
  // An error value (fiber awaiting): the duet::Result of the vector carries
  // it, and the parked child is cancelled.
  {
    using R = try_join_values::Result<int>;
    std::vector<duet::JoinHandle<R>> hs;
    hs.push_back(rt.spawn(duet::stackful, [&never, &gone, &gone_started]() -> R {
      Gone g{&gone};
      gone_started.fetch_add(1);
      duet::wait(never.notified());
      return 0;
    }));
    while (gone_started.load() < 3) std::this_thread::yield();  // it holds a Gone
    hs.push_back(rt.spawn(duet::stackful, []() -> R { return std::errc::timed_out; }));
    duet::CancelHandle watch = hs[0].cancel_handle();
    auto r = rt.spawn(duet::stackful, [&hs] {
                 return duet::wait(duet::try_join_all(std::move(hs)));
               }).join();
    static_assert(std::is_same_v<decltype(r), try_join_values::Result<std::vector<int>>>);
    CHECK(r.error() == std::errc::timed_out);
    while (!watch.is_finished()) std::this_thread::yield();
    CHECK(gone.load() == 3);
  }
  // An empty handle is a program error, as for join_all.
  std::vector<duet::JoinHandle<int>> with_empty(2);
  CHECK_THROWS_AS(duet::try_join_all(std::move(with_empty)), std::logic_error);
}

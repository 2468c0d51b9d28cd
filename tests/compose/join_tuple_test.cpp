// join, try_join and join_all over futures of different types, into a
// tuple (issue 50, item 3), in both models: Tasks, JoinHandles (owned and
// borrowed) and other futures; join waits for all and rethrows the first
// failure in argument order; try_join ends at the first failure and drops
// the rest (a Task destroyed where it waits).
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <tuple>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

struct JoinDropCount {
  std::atomic<int>* n;
  ~JoinDropCount() { n->fetch_add(1); }
};

duet::Task<int> number(int v) {
  co_await duet::yield_now();
  co_return v;
}
duet::Task<std::string> word(std::string s) {
  co_await duet::yield_now();
  co_return s;
}
duet::Task<void> nothing() {
  co_await duet::yield_now();
}
duet::Task<int> fails(const char* what) {
  co_await duet::yield_now();
  throw std::runtime_error(what);
}
duet::Task<int> never_ends(duet::Notify* never, std::atomic<int>* dropped) {
  JoinDropCount g{dropped};
  co_await never->notified();
  co_return 0;
}

}  // namespace

TEST_CASE("join: futures of different types into a tuple (coroutine)", "[join_tuple]") {
  duet::test::Watchdog wd("join coroutine");
  duet::Runtime rt(duet::test::unpinned_config(2));
  auto h = rt.spawn([](duet::Runtime& r) -> duet::Task<std::string> {
    // std::get, not a structured binding: GCC 12's coroutine trap (docs/io.md).
    auto handle = r.spawn(duet::stackful, [] { return 2.5; });
    auto t = co_await duet::join(number(1), word("two"), nothing(), handle);
    static_assert(std::is_same_v<std::tuple_element_t<2, decltype(t)>, duet::Unit>);
    const bool borrowed_joined = !handle.valid();  // borrowed and joined in place
    auto a = duet::spawn(number(3));
    auto b = duet::spawn(word("four"));
    auto all = co_await duet::join_all(std::move(a), std::move(b));
    auto tried = co_await duet::try_join(number(5), word("six"));
    co_return std::to_string(std::get<0>(t)) + std::get<1>(t) + std::to_string(std::get<3>(t)) +
        std::to_string(std::get<0>(all)) + std::get<1>(all) + std::to_string(std::get<0>(tried)) +
        std::get<1>(tried) + (borrowed_joined ? "" : "!");
  }(rt));
  CHECK(h.join() == "1two2.5000003four5six");
}

TEST_CASE("join: futures of different types into a tuple (fiber)", "[join_tuple]") {
  duet::test::Watchdog wd("join fiber");
  duet::Runtime rt(duet::test::unpinned_config(2));
  auto h = rt.spawn(duet::stackful, [&rt] {
    auto handle = rt.spawn(word("two"));
    auto [n, s] = duet::wait(duet::join(number(1), std::move(handle)));
    auto a = duet::spawn(duet::stackful, [] { return 3; });
    auto b = duet::spawn(word("four"));
    auto [x, y] = duet::wait(duet::join_all(a, b));
    auto [p, u] = duet::wait(duet::try_join(number(5), nothing()));
    (void)u;
    return std::to_string(n) + s + std::to_string(x) + y + std::to_string(p);
  });
  CHECK(h.join() == "1two3four5");
}

TEST_CASE("join: waits for all, then rethrows the first failure in argument order",
          "[join_tuple]") {
  duet::test::Watchdog wd("join failure");
  duet::Runtime rt(duet::test::unpinned_config(2));
  std::atomic<int> done{0};
  auto counted = [](std::atomic<int>* d) -> duet::Task<int> {
    co_await duet::yield_now();
    co_await duet::yield_now();
    d->fetch_add(1);
    co_return 1;
  };
  auto coro = rt.spawn([](auto c, std::atomic<int>* d) -> duet::Task<std::string> {
    try {
      co_await duet::join(c(d), fails("first"), fails("second"));
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what()) + ":" + std::to_string(d->load());
    }
    co_return "no throw";
  }(counted, &done));
  CHECK(coro.join() == "first:1");
  auto fib = rt.spawn(duet::stackful, [&] {
    try {
      duet::wait(duet::join(fails("first"), counted(&done), fails("second")));
    } catch (const std::runtime_error& e) {
      return std::string(e.what()) + ":" + std::to_string(done.load());
    }
    return std::string("no throw");
  });
  CHECK(fib.join() == "first:2");
}

TEST_CASE("try_join: the first failure ends it, the rest are dropped", "[join_tuple]") {
  duet::test::Watchdog wd("try_join");
  duet::Runtime rt(duet::test::unpinned_config(2));
  std::atomic<int> dropped{0};
  duet::Notify never;
  auto coro = rt.spawn([](duet::Notify* nv, std::atomic<int>* d) -> duet::Task<std::string> {
    try {
      co_await duet::try_join(never_ends(nv, d), fails("boom"), word("w"));
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what()) + ":" + std::to_string(d->load());
    }
    co_return "no throw";
  }(&never, &dropped));
  CHECK(coro.join() == "boom:1");
  auto fib = rt.spawn(duet::stackful, [&] {
    try {
      duet::wait(duet::try_join(never_ends(&never, &dropped), fails("bang")));
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no throw");
  });
  CHECK(fib.join() == "bang");
  CHECK(dropped.load() == 2);  // the polled Task's frame, destroyed in the try_join
}

// join_all, race and select_first over a std::vector of JoinHandles
// (issue 72): an empty handle (never spawned, or joined already) is a
// program error, std::logic_error naming its index, as joining it alone
// is, instead of a join that never completes; select_first over a vector
// with no handle left to take throws too. Both models: a coroutine
// (co_await) and a fiber (duet::wait).
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace vector_join {

using Handles = std::vector<duet::JoinHandle<int>>;

/// Two finished children around an empty handle at index 1.
Handles with_empty_at_one(duet::Runtime& rt) {
  Handles hs;
  hs.push_back(rt.spawn(duet::stackful, [] { return 1; }));
  hs.emplace_back();  // never spawned
  hs.push_back(rt.spawn(duet::stackful, [] { return 3; }));
  return hs;
}

/// Two children, the second joined already (its handle left empty).
Handles with_joined_at_one(duet::Runtime& rt) {
  Handles hs;
  hs.push_back(rt.spawn(duet::stackful, [] { return 1; }));
  hs.push_back(rt.spawn(duet::stackful, [] { return 2; }));
  (void)hs[1].join();
  return hs;
}

/// What an expression threw: the std::logic_error's message, or a word for
/// "nothing" or "something else". Never hangs: the forms under test throw
/// before they wait.
template <class Fn>
std::string logic_error_of(Fn fn) {
  try {
    fn();
  } catch (const std::logic_error& e) {
    return e.what();
  } catch (...) {
    return "another exception";
  }
  return "no exception";
}

duet::Task<std::string> coro_join_all(Handles hs) {
  try {
    (void)co_await duet::join_all(std::move(hs));
  } catch (const std::logic_error& e) {
    co_return e.what();
  }
  co_return "no exception";
}

duet::Task<std::string> coro_race(Handles hs) {
  try {
    (void)co_await duet::race(std::move(hs));
  } catch (const std::logic_error& e) {
    co_return e.what();
  }
  co_return "no exception";
}

duet::Task<std::string> coro_select_first(Handles* hs) {
  try {
    (void)co_await duet::select_first(*hs);
  } catch (const std::logic_error& e) {
    co_return e.what();
  }
  co_return "no exception";
}

bool names_index_one(const std::string& what) {
  return what.find("empty") != std::string::npos && what.find("index 1") != std::string::npos;
}

}  // namespace vector_join

using vector_join::Handles;
using vector_join::logic_error_of;
using vector_join::names_index_one;

TEST_CASE("join_all over a vector with an empty or joined handle throws logic_error naming it",
          "[combinators]") {
  duet::test::Watchdog wd("join_all empty handle", std::chrono::seconds(30));
  duet::Runtime rt(duet::test::cpu_only_config(2));
  for (auto make : {&vector_join::with_empty_at_one, &vector_join::with_joined_at_one}) {
    std::string coro = rt.spawn(vector_join::coro_join_all(make(rt))).join();
    INFO(coro);
    CHECK(names_index_one(coro));
    std::string fiber =
        rt.spawn(duet::stackful, [&rt, make] {
            return logic_error_of([&] { (void)duet::wait(duet::join_all(make(rt))); });
          }).join();
    INFO(fiber);
    CHECK(names_index_one(fiber));
  }
  // An empty vector is no error: nothing to wait for.
  CHECK(rt.spawn(duet::stackful, [] {
            return duet::wait(duet::join_all(Handles{})).size();
          }).join() == 0);
}

TEST_CASE("race over a vector with an empty handle throws logic_error naming it", "[combinators]") {
  duet::test::Watchdog wd("race empty handle", std::chrono::seconds(30));
  duet::Runtime rt(duet::test::cpu_only_config(2));
  std::string coro = rt.spawn(vector_join::coro_race(vector_join::with_joined_at_one(rt))).join();
  INFO(coro);
  CHECK(names_index_one(coro));
  std::string fiber = rt.spawn(duet::stackful, [&rt] {
                          return logic_error_of([&] {
                            (void)duet::wait(duet::race(vector_join::with_empty_at_one(rt)));
                          });
                        }).join();
  INFO(fiber);
  CHECK(names_index_one(fiber));
}

TEST_CASE("select_first with no handle left to take throws logic_error", "[combinators]") {
  duet::test::Watchdog wd("select_first taken", std::chrono::seconds(30));
  duet::Runtime rt(duet::test::cpu_only_config(2));
  // Coroutine: take both, one select_first each, then a third finds none.
  Handles hs;
  hs.push_back(rt.spawn(duet::stackful, [] { return 1; }));
  hs.push_back(rt.spawn(duet::stackful, [] { return 2; }));
  auto taken = rt.spawn([](Handles* hs) -> duet::Task<int> {
                   int sum = 0;
                   for (int i = 0; i < 2; ++i) {
                     auto first = co_await duet::select_first(*hs);
                     sum += first.second;
                   }
                   co_return sum;
                 }(&hs))
                   .join();
  CHECK(taken == 3);
  std::string coro = rt.spawn(vector_join::coro_select_first(&hs)).join();
  INFO(coro);
  CHECK(coro.find("no handle left") != std::string::npos);
  // Fiber: a vector of handles never spawned, and an empty vector.
  std::string fiber =
      rt.spawn(duet::stackful, [] {
          Handles none(3);
          return logic_error_of([&] { (void)duet::wait(duet::select_first(none)); });
        }).join();
  INFO(fiber);
  CHECK(fiber.find("no handle left") != std::string::npos);
  std::string empty_vector =
      rt.spawn(duet::stackful, [] {
          Handles none;
          return logic_error_of([&] { (void)duet::wait(duet::select_first(none)); });
        }).join();
  INFO(empty_vector);
  CHECK(empty_vector.find("no handles") != std::string::npos);
}

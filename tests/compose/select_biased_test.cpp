// select's priority order and its result (issue 50, item 3), in both
// models: a biased select takes the first ready case written, every time
// (a cancelled token wins over waiting input); the result answers is<I>,
// get<I> and a positional visit, and stays a std::variant.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <variant>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

/// Ready at once with its value.
struct ReadyNow {
  int v;
  duet::Poll<int> poll(duet::Context&) { return v; }
};

enum Branch { stop, input };  // names for a select's cases, in the order written

}  // namespace

TEST_CASE("select: biased takes the first ready case written (coroutine)", "[select_biased]") {
  duet::test::Watchdog wd("biased coroutine");
  duet::Runtime rt(duet::test::unpinned_config(2));
  auto h = rt.spawn([]() -> duet::Task<int> {
    auto ch = duet::Channel<int>::bounded(256);
    duet::CancellationToken token;
    token.cancel();
    int first = 0;
    for (int i = 0; i < 200; ++i) {
      (void)ch.try_send(i);
      auto r = co_await duet::select(duet::biased, token.cancelled(), ch.recv());
      if (r.is<stop>()) ++first;
      auto s = co_await duet::select(duet::biased, ReadyNow{1}, ReadyNow{2}, ReadyNow{3});
      if (s.get<0>() != 1) co_return -1;
    }
    co_return first;
  }());
  CHECK(h.join() == 200);
}

TEST_CASE("select: biased takes the first ready case written (fiber)", "[select_biased]") {
  duet::test::Watchdog wd("biased fiber");
  duet::Runtime rt(duet::test::unpinned_config(2));
  auto h = rt.spawn(duet::stackful, [] {
    auto ch = duet::Channel<int>::bounded(256);
    duet::CancellationToken token;
    token.cancel();
    int first = 0;
    for (int i = 0; i < 200; ++i) {
      (void)ch.try_send(i);
      auto r = duet::wait(duet::select(duet::biased, token.cancelled(), ch.recv()));
      if (r.is<stop>()) ++first;
      auto d = duet::try_select(duet::biased, ReadyNow{4}, ReadyNow{5});
      if (!d || d->get<0>() != 4) return -1;
    }
    return first;
  });
  CHECK(h.join() == 200);
}

TEST_CASE("select: the result names its case and visits positionally", "[select_biased]") {
  duet::test::Watchdog wd("select result");
  duet::Runtime rt(duet::test::unpinned_config(2));
  auto h = rt.spawn([]() -> duet::Task<std::string> {
    auto a = duet::Channel<int>::bounded(1);
    auto b = duet::Channel<int>::bounded(1);
    (void)b.try_send(7);
    auto r = co_await duet::select(duet::biased, a.recv(), b.recv());
    // Two cases of one type keep their own handlers.
    std::string seen = r.visit([](std::optional<int>) { return std::string("a"); },
                               [](std::optional<int> v) { return "b" + std::to_string(*v); });
    seen += r.is<input>() ? "|input" : "|stop";
    seen += "|" + std::to_string(r.index()) + "|" + std::to_string(*std::get<1>(r));
    std::variant<std::optional<int>, std::optional<int>> as_variant = r;  // the old form
    seen += "|" + std::to_string(as_variant.index());
    co_return seen;
  }());
  CHECK(h.join() == "b7|input|1|7|1");
}

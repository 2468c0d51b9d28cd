// names_test.cpp: duet/names.hpp's rule on every public enum of a setting
// or a status of duet::common (duet::http's and duet::dns's: their own
// areas' names tests): to_string names each value once, and from_string gives the
// value back from its name and nothing from another text.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <string_view>

#include "duet/channel/status.hpp"
#include "duet/config.hpp"
#include "duet/names.hpp"
#include "duet/scope/task_scope.hpp"
#include "duet/task_kind.hpp"
#include "duet/time/interval.hpp"

namespace {

namespace names_test {

template <class E>
void round_trips() {
  std::set<std::string_view> seen;
  for (E e : enum_values(E{})) {
    const std::string_view name = to_string(e);
    INFO(name);
    CHECK(seen.insert(name).second);  // each name once
    CHECK(duet::from_string<E>(name) == e);
  }
  CHECK_FALSE(duet::from_string<E>("no such name").has_value());
}

TEST_CASE("names: every enum of a setting or a status round-trips through its name") {
  round_trips<duet::Placement>();
  round_trips<duet::IoDriver>();
  round_trips<duet::StackStrategy>();
  round_trips<duet::ClockMode>();
  round_trips<duet::TaskKind>();
  round_trips<duet::FailurePolicy>();
  round_trips<duet::MissedTickBehavior>();
  round_trips<duet::ChannelStatus>();
}

TEST_CASE("names: the names are the ones the docs and configurations spell") {
  CHECK(duet::to_string(duet::IoDriver::io_uring) == "io_uring");
  CHECK(duet::to_string(duet::StackStrategy::unguarded_unsafe) == "unguarded_unsafe");
  CHECK(duet::to_string(duet::TaskKind::coroutine) == "coroutine");
  CHECK(duet::to_string(duet::TaskKind::fiber) == "fiber");
  static_assert(duet::from_string<duet::ClockMode>("paused") == duet::ClockMode::paused);
}

}  // namespace names_test

}  // namespace

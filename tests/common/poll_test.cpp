// Poll<T>: a value or pending, with the same face whatever T is. A value of
// at most a word that is trivially copyable sits beside a word-wide flag
// (duet/poll.hpp: two registers when returned from a call that is not
// inlined); anything else in a std::optional. Both storages must give the
// same answers, through copies, moves and calls that are not inlined.
#include <catch2/catch.hpp>

#include <climits>
#include <memory>
#include <string>
#include <type_traits>

#include <duet/poll.hpp>

namespace {

static_assert(duet::detail::poll_in_words<long>);
static_assert(duet::detail::poll_in_words<int*>);
static_assert(duet::detail::poll_in_words<double>);
static_assert(!duet::detail::poll_in_words<std::string>);
static_assert(!duet::detail::poll_in_words<std::unique_ptr<int>>);
static_assert(std::is_trivially_copyable_v<duet::Poll<long>>);
static_assert(sizeof(void*) != 8 || sizeof(duet::Poll<long>) == 16,
              "a word-sized Poll is two words: returned in two registers");

template <class T>
[[gnu::noinline]] duet::Poll<T> out_of_line(bool ready, T v) {
  if (ready) return v;
  return duet::pending;
}

}  // namespace

TEST_CASE("a word-sized Poll is pending or ready with its exact value", "[poll]") {
  duet::Poll<long> p = duet::pending;
  CHECK(p.is_pending());
  CHECK_FALSE(p.is_ready());
  for (long v : {0L, 1L, -1L, LONG_MIN, LONG_MAX}) {
    duet::Poll<long> r = out_of_line(true, v);
    REQUIRE(r.is_ready());
    CHECK(r.value() == v);
    duet::Poll<long> copy = r;  // trivially copyable: flag and value travel together
    REQUIRE(copy.is_ready());
    CHECK(std::move(copy).value() == v);
    CHECK(out_of_line(false, v).is_pending());
  }
  int x = 7;
  duet::Poll<int*> q = out_of_line(true, &x);
  REQUIRE(q.is_ready());
  CHECK(*q.value() == 7);
  duet::Poll<double> d = out_of_line(true, 2.5);
  REQUIRE(d.is_ready());
  CHECK(d.value() == 2.5);
  duet::Poll<long> widened = 3;  // converts from what constructs a T
  CHECK(widened.value() == 3L);
}

TEST_CASE("a Poll of a larger or non-trivial value keeps it in an optional", "[poll]") {
  duet::Poll<std::string> p = duet::pending;
  CHECK(p.is_pending());
  duet::Poll<std::string> r = out_of_line(true, std::string(100, 'x'));
  REQUIRE(r.is_ready());
  std::string s = std::move(r).value();
  CHECK(s == std::string(100, 'x'));
  CHECK(out_of_line(false, std::string("y")).is_pending());
  duet::Poll<std::unique_ptr<int>> u = std::make_unique<int>(5);
  REQUIRE(u.is_ready());
  CHECK(*std::move(u).value() == 5);
}

TEST_CASE("Poll of void is ready or pending", "[poll]") {
  duet::Poll<void> p = duet::pending;
  CHECK(p.is_pending());
  duet::Poll<void> r = duet::ready();
  CHECK(r.is_ready());
}

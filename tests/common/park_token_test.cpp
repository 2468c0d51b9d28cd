// park_token_test.cpp: the sleep handshake of the Parker and both I/O
// drivers (duet/detail/park_token.hpp): its transitions one by one, then a
// sleeper racing two wakers in every interleaving of their atomic operations
// (tests/support/explorer.hpp), checking that a sleeper that parks is always
// woken and that a token is never left behind by a park that consumed it.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>

#include "duet/detail/park_token.hpp"
#include "duet/detail/parker.hpp"
#include "explored.hpp"
#include "explorer.hpp"

using duet::detail::BasicParkToken;
using duet::detail::ParkToken;
using duet::test::ExploredAtomic;
using duet::test::Explorer;
using duet::test::require_explored;

TEST_CASE("park token: a token left before the park makes it return at once", "[park_token]") {
  ParkToken t;
  CHECK_FALSE(t.unpark());  // nobody parked: nobody to wake
  CHECK_FALSE(t.prepare_park());
  CHECK(t.word().load() == ParkToken::empty);
  CHECK_FALSE(t.unpark());
  CHECK_FALSE(t.unpark());  // two tokens are one
  CHECK_FALSE(t.prepare_park());
  CHECK(t.prepare_park());  // the second token was the first
}

TEST_CASE("park token: an unpark during the sleep asks for a wake, once", "[park_token]") {
  ParkToken t;
  REQUIRE(t.prepare_park());
  CHECK(t.word().load() == ParkToken::parked);
  CHECK_FALSE(t.take_token());  // a spurious wake: still parked
  CHECK(t.unpark());            // the sleeper must be woken
  CHECK_FALSE(t.unpark());      // already notified
  CHECK(t.take_token());
  CHECK(t.word().load() == ParkToken::empty);
}

TEST_CASE("park token: a park that ends without a token leaves the word empty", "[park_token]") {
  ParkToken t;
  REQUIRE(t.prepare_park());
  t.finish_park();  // a timeout or an I/O event ended it
  CHECK(t.word().load() == ParkToken::empty);
  CHECK(t.prepare_park());
  CHECK(t.unpark());
  t.finish_park();  // the token that came with the wake is consumed
  CHECK(t.word().load() == ParkToken::empty);
}

TEST_CASE("parker: an unpark from another thread ends the park", "[park_token]") {
  duet::detail::Parker p;
  p.unpark();
  p.park();  // the token: returns at once
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    p.park();
    woke.store(true);
  });
  p.unpark();
  sleeper.join();
  CHECK(woke.load());
}

namespace {

using Token = BasicParkToken<ExploredAtomic<std::uint32_t>>;

struct World {
  Token token;
  ExploredAtomic<int> work{0};   // what the wakers publish
  ExploredAtomic<int> wakes{0};  // futex wakes / eventfd writes
  bool slept = false;
  int seen = -1;
};

/// A waker: publish work, then unpark, and wake the sleeper when asked to.
void waker(World& w) {
  w.work.fetch_add(1);
  if (w.token.unpark()) w.wakes.fetch_add(1);
}

}  // namespace

TEST_CASE("explored: a sleeper that parks is woken, whatever the interleaving",
          "[park_token][explorer]") {
  auto r = Explorer::explore([] {
    auto w = std::make_shared<World>();
    return Explorer::Case{
        {[w] {
           // The sleeper: it parks only if no token is there. Parked, it
           // can go no further until a wake (the case ends it here).
           w->slept = w->token.prepare_park();
           if (!w->slept) w->seen = w->work.load();
         },
         [w] { waker(*w); }, [w] { waker(*w); }},
        [w] {
          if (w->slept) {
            Explorer::expect(w->wakes.peek() >= 1, "the sleeper parked and nobody woke it");
            w->token.finish_park();
          } else if (w->seen < 2) {
            // It returned to look for work without all of it: the token of
            // what it missed must still be there for its next park.
            Explorer::expect(w->token.word().peek() == Token::notified,
                             "a token was lost: the next park would sleep on queued work");
          }
          Explorer::expect(w->wakes.peek() <= 1, "a sleeper was woken twice for one park");
        }};
  });
  require_explored(r, 50);
}

// A Stack is 16 bytes (duet/stackful/stack.hpp: it travels in two
// registers); its guard is stored as a power of two. What the pools hand
// out must still say where the usable stack lies: the guard page at the low
// end for the guarded strategies, none for unguarded_unsafe, and at least
// the asked bytes above it.
#include <catch2/catch.hpp>

#include <duet/duet.hpp>

using duet::StackStrategy;
using duet::detail::guard_log2_of;
using duet::detail::page_size;
using duet::detail::Stack;
using duet::detail::stack_acquire;
using duet::detail::stack_release;

TEST_CASE("guard_log2_of encodes no guard and page-sized guards", "[stackful][stack]") {
  CHECK(guard_log2_of(0) == 0);
  CHECK(guard_log2_of(4096) == 12);
  CHECK(guard_log2_of(std::size_t{64} << 10) == 16);
  Stack s;
  s.guard_log2 = guard_log2_of(4096);
  CHECK(s.guard() == 4096);
  s.guard_log2 = 0;
  CHECK(s.guard() == 0);
}

TEST_CASE("acquired stacks say where their guard and usable bytes lie", "[stackful][stack]") {
  const std::size_t pg = page_size();
  for (StackStrategy st :
       {StackStrategy::pooled, StackStrategy::lazy, StackStrategy::unguarded_unsafe}) {
    INFO("strategy " << static_cast<int>(st));
    const std::size_t asked = 3 * pg + 100;  // rounded up to pages
    Stack s = stack_acquire(st, asked);
    REQUIRE(s);
    CHECK(s.strategy == st);
    const std::size_t guard = st == StackStrategy::unguarded_unsafe ? 0 : pg;
    CHECK(s.guard() == guard);
    CHECK(s.bottom() == s.base + guard);
    CHECK(s.top() == s.base + s.size);
    CHECK(s.usable() >= asked);
    CHECK(s.usable() % pg == 0);
    // The usable bytes are writable end to end (a guard hit would kill the test).
    s.bottom()[0] = 1;
    s.top()[-1] = 1;
    stack_release(s);
  }
}

// Thread-locals across a task's move between workers (duet/detail/thread_local.hpp):
// a fiber or a coroutine that allocates task memory, moves to another
// worker at a join and allocates again must use the lists of the thread it
// runs on, never an address computed on the thread it left. The join of a
// child pinned to the other worker moves the task there (the child's end
// wakes it on that worker), so every round is a move. The block cache's
// inline path checks its lists against the library's answer in checked
// builds (blocks::foreign_cache aborts, naming the mismatch); the
// tls_move consumer builds the same body with g++, clang++-14 and
// clang++-16 at -O2 and -O3 (tests/consumer/project/tls_move.cpp).
#include <catch2/catch.hpp>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

constexpr int rounds = 2000;

struct Noop {
  duet::Poll<int> poll(duet::Context&) { return 1; }
};

/// One round: a block from this thread's lists, a join that moves the task
/// to worker `to`, and a block again. Returns whether the task moved.
template <class Join>
[[gnu::noinline]] bool round_trip(unsigned to, Join&& join) {
  const int before = duet::Runtime::current_worker();
  void* a = duet::detail::block_alloc(64);
  join(duet::spawn(duet::pin_to(to), Noop{}));
  duet::detail::block_free(a, 64);
  void* b = duet::detail::block_alloc(192);
  duet::detail::block_free(b, 192);
  return duet::Runtime::current_worker() != before;
}

int fiber_rounds() {
  int moves = 0;
  for (int i = 0; i < rounds; ++i)
    moves += round_trip(static_cast<unsigned>(i % 2), [](auto h) { duet::wait(std::move(h)); });
  return moves;
}

duet::Task<int> coroutine_rounds() {
  int moves = 0;
  for (int i = 0; i < rounds; ++i) {
    const int before = duet::Runtime::current_worker();
    void* a = duet::detail::block_alloc(64);
    co_await duet::spawn(duet::pin_to(static_cast<unsigned>(i % 2)), Noop{});
    duet::detail::block_free(a, 64);
    void* b = duet::detail::block_alloc(192);
    duet::detail::block_free(b, 192);
    if (duet::Runtime::current_worker() != before) ++moves;
  }
  co_return moves;
}

}  // namespace

TEST_CASE("A fiber that moves between workers allocates from the thread it runs on") {
  duet::test::Watchdog dog("fiber moving between workers");
  duet::Runtime rt(duet::test::unpinned_config(2));
  const int moves = rt.block_on(duet::stackful, [] { return fiber_rounds(); });
  // Most rounds move (a steal may take the woken fiber back first).
  CHECK(moves > rounds / 4);
}

TEST_CASE("A coroutine that moves between workers allocates from the thread it runs on") {
  duet::test::Watchdog dog("coroutine moving between workers");
  duet::Runtime rt(duet::test::unpinned_config(2));
  const int moves = rt.block_on(coroutine_rounds());
  CHECK(moves > rounds / 4);
}

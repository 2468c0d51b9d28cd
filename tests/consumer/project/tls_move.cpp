// A fiber and a coroutine that move between workers at every join and
// allocate task memory on both sides of it (tests/common/thread_move_test.cpp
// is the suite's form): built by each compiler the consumer tests use, at
// -O2 and -O3, and on x86-64 also with initial-exec thread-locals where the
// library uses descriptors (tls_move_ie.cpp), so the inline accessors of
// duet/detail/thread_local.hpp are checked in every code shape they take. The
// library's checked builds abort on a thread-local address kept across a
// move; a stale address would otherwise corrupt another thread's lists.
#include <cstdio>
#include <duet/duet.hpp>

namespace {

constexpr int rounds = 2000;

struct Noop {
  duet::Poll<int> poll(duet::Context&) { return 1; }
};

int fiber_rounds() {
  int moves = 0;
  for (int i = 0; i < rounds; ++i) {
    const int before = duet::Runtime::current_worker();
    void* a = duet::detail::block_alloc(64);
    duet::wait(duet::spawn(duet::pin_to(static_cast<unsigned>(i % 2)), Noop{}));
    duet::detail::block_free(a, 64);
    void* b = duet::detail::block_alloc(192);
    duet::detail::block_free(b, 192);
    moves += duet::Runtime::current_worker() != before;
  }
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
    moves += duet::Runtime::current_worker() != before;
  }
  co_return moves;
}

}  // namespace

int main() {
  duet::RuntimeConfig cfg;
  cfg.workers = 2;
  cfg.placement = duet::Placement::none;
  duet::Runtime rt(cfg);
  const int fiber_moves = rt.block_on(duet::stackful, [] { return fiber_rounds(); });
  const int coroutine_moves = rt.block_on(coroutine_rounds());
  // Most rounds move (a steal may take the woken task back first).
  if (fiber_moves <= rounds / 4 || coroutine_moves <= rounds / 4) {
    std::printf("too few moves: fiber %d, coroutine %d of %d\n", fiber_moves, coroutine_moves,
                rounds);
    return 1;
  }
  std::printf("tls move ok\n");
  return 0;
}

// hello_duet: one runtime, both backends, awaiting each other.
//
// A coroutine awaits a fiber's handle; a fiber joins a coroutine's handle
// (parking the fiber, not the worker); main blocks on the result.
#include <cstdio>
#include <duet/duet.hpp>
#include <stdexcept>

duet::Task<int> square(int x) {
  co_return x* x;
}

// A coroutine that spawns a fiber and awaits it.
duet::Task<int> sum_with_fiber(int n) {
  auto fib = duet::spawn(duet::stackful, [n] {
    int s = 0;
    for (int i = 1; i <= n; ++i) {
      s += i;
      duet::this_fiber::yield();  // let the others run
    }
    return s;
  });
  int from_fiber = co_await fib;
  co_return from_fiber + co_await square(n);
}

int main() {
  duet::Runtime rt;  // one worker per core, pinned

  auto coro = rt.spawn(sum_with_fiber(10));
  // A fiber that waits on a coroutine's handle: parks the fiber only.
  auto fiber = rt.spawn(duet::stackful, [&coro] { return coro.join() * 2; });
  std::printf("fiber saw %d\n", fiber.join());  // main parks until ready: 310

  // Exceptions travel to the joiner, whichever backend threw.
  auto bad = rt.spawn(duet::stackful, []() -> int { throw std::runtime_error("boom"); });
  try {
    bad.join();
  } catch (const std::exception& e) {
    std::printf("caught: %s\n", e.what());
  }
  return 0;
}

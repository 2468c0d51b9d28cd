// hello_duet: one runtime, both backends, awaiting each other.
//
// A coroutine awaits a fiber's handle; a fiber joins a coroutine's handle
// (parking the fiber, not the worker); main blocks on the result. A Task is
// a future too: joined with others of other types, or bounded by a
// deadline, inside the task that awaits it.
#include <chrono>
#include <cstdio>
#include <duet/duet.hpp>
#include <stdexcept>
#include <string>

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

duet::Task<std::string> name_of(int x) {
  co_return "n" + std::to_string(x);
}

// join: both results, as a tuple; timeout: a duet::Result, its error
// duet::TimeoutErrc::elapsed if the deadline wins (then the Task is destroyed
// where it waits, not left running).
duet::Task<int> composed() {
  auto both = co_await duet::join(square(3), name_of(4));                   // {9, "n4"}
  auto timed = co_await duet::timeout(std::chrono::seconds(1), square(5));  // 25
  co_return std::get<0>(both) + static_cast<int>(std::get<1>(both).size()) + timed.value_or(0);
}

int main() {
  duet::Runtime rt;  // one worker per core, pinned

  auto coro = rt.spawn(sum_with_fiber(10));
  // A fiber that waits on a coroutine's handle: parks the fiber only.
  auto fiber = rt.spawn(duet::stackful, [&coro] { return coro.join() * 2; });
  std::printf("fiber saw %d\n", fiber.join());            // main parks until ready: 310
  std::printf("composed %d\n", rt.block_on(composed()));  // 9 + 2 + 25 = 36

  // Exceptions travel to the joiner, whichever backend threw.
  auto bad = rt.spawn(duet::stackful, []() -> int { throw std::runtime_error("boom"); });
  try {
    bad.join();
  } catch (const std::exception& e) {
    std::printf("caught: %s\n", e.what());
  }
  return 0;
}

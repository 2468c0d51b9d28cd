// plugin.cpp: a shared object that a program loads with dlopen (a plugin, a
// Python extension) and that links duet: the static archives (the plain
// flavour) or libduet_*.so (the shared one). Runs a coroutine and a fiber
// on a runtime of its own; 42 when both worked.
#include <duet/duet.hpp>
#include <duet/stackful.hpp>

namespace {

duet::Task<int> coroutine_half() {
  co_await duet::yield_now();
  co_return 21;
}

int fiber_half() {
  duet::this_fiber::yield();
  return 21;
}

}  // namespace

// Its lambdas would be named after the extern "C" function, and GCC 12
// gives two of them one symbol: named functions instead.
extern "C" [[gnu::visibility("default")]] int duet_plugin_run() {
  duet::RuntimeConfig cfg;
  cfg.workers = 2;
  duet::Runtime rt(cfg);
  const int a = rt.block_on(coroutine_half());
  const int b = rt.block_on(duet::stackful, fiber_half);
  return a + b;
}

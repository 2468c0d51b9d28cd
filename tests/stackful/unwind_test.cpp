// Unwinding inside a fiber (stackful/src/switch.cpp, the .cfi directives):
// a backtrace taken deep in a fiber walks every frame of the fiber's stack
// and ends at its outermost frame, the trampoline (whose return address is
// the `ud2` after its jump), not at a zero or a stray address; an
// exception thrown there unwinds to its handler inside the fiber.
#include <catch2/catch.hpp>

#include <execinfo.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

struct Walk {
  int frames = 0;
  bool ends_at_trampoline = false;
};

[[gnu::noinline]] Walk walk_here() {
  void* pcs[128];
  Walk w;
  w.frames = backtrace(pcs, 128);
  if (w.frames > 0 && w.frames < 128) {
    unsigned char code[2];
    std::memcpy(code, pcs[w.frames - 1], 2);
    w.ends_at_trampoline = code[0] == 0x0f && code[1] == 0x0b;  // ud2
  }
  asm volatile("" ::: "memory");  // not a tail call: this frame stays in the walk
  return w;
}

[[gnu::noinline]] Walk nested(int depth) {
  Walk w = depth == 0 ? walk_here() : nested(depth - 1);
  asm volatile("" ::: "memory");
  return w;
}

}  // namespace

TEST_CASE("a backtrace in a fiber walks its frames and ends at the fiber's trampoline") {
#if !defined(__x86_64__)
  DUET_SKIP("the trampoline's `ud2` is x86-64's; other targets use Boost.Context's switch");
#else
  duet::test::Watchdog dog("backtrace in a fiber");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  for (auto strategy : {duet::StackStrategy::pooled, duet::StackStrategy::copy}) {
    INFO("strategy " << static_cast<int>(strategy));
    // Before any switch out, and after a yield (a parked context resumed).
    const auto kind = duet::stackful({.strategy = strategy});
    const Walk first = rt.block_on(kind, [] { return nested(5); });
    const Walk later = rt.block_on(kind, [] {
      duet::this_fiber::yield();
      return nested(5);
    });
    for (const Walk& w : {first, later}) {
      CHECK(w.frames >= 7);  // walk_here, nested x6, and the fiber's own frames
      CHECK(w.frames < 128);
      CHECK(w.ends_at_trampoline);
    }
  }
#endif
}

TEST_CASE("an exception thrown deep in a fiber unwinds to its handler in the fiber") {
  duet::test::Watchdog dog("exception in a fiber");
  duet::Runtime rt(duet::test::cpu_only_config(1));
  const int got = rt.block_on(duet::stackful, [] {
    auto deep = [](auto& self, int n) -> int {
      if (n == 0) throw std::runtime_error("deep");
      const int r = self(self, n - 1);
      asm volatile("" ::: "memory");
      return r + 1;
    };
    try {
      duet::this_fiber::yield();
      return deep(deep, 20);
    } catch (const std::runtime_error& e) {
      return std::strcmp(e.what(), "deep") == 0 ? 42 : -1;
    }
  });
  CHECK(got == 42);
}

// Death tests: a fiber that overflows into its guard page is reported (which
// fiber, its stack size, its spawn site) and the process aborts. Each case
// runs in a forked child.
#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <string>

#include "duet/duet.hpp"
#include "fiber_test_util.hpp"

using duet::StackStrategy;

namespace {

volatile int g_depth_sink = 0;

/// Recurses until something stops it (depth comes from a volatile, so the
/// compiler cannot prove the recursion infinite).
[[gnu::noinline]] int dive(int n) {
  volatile char pad[256];
  std::memset(const_cast<char*>(pad), n & 0xff, sizeof pad);
  if (n == g_depth_sink - 1) return pad[0];
  return dive(n + 1) + pad[n & 0xff];
}

void overflow_in_child(StackStrategy s) {
  duet::RuntimeConfig cfg;
  cfg.workers = 2;
  cfg.placement = duet::Placement::none;
  duet::Runtime rt(cfg);
  auto h = rt.spawn(duet::stackful({.strategy = s, .stack_size = 256 << 10, .name = "diver"}),
                    [] { return dive(0); });
  h.join();
}

}  // namespace

TEST_CASE("a guard-page hit names the fiber and aborts", "[stackful][overflow][death]") {
  for (StackStrategy s : {StackStrategy::pooled, StackStrategy::lazy, StackStrategy::copy}) {
    INFO(duet::test::strategy_name(s));
    auto r = duet::test::run_in_child([s] { overflow_in_child(s); });
    INFO(r.err);
    REQUIRE(r.signaled);
    REQUIRE(r.signal == SIGABRT);
    REQUIRE(r.err.find("duet: stack overflow in fiber") != std::string::npos);
    REQUIRE(r.err.find(std::string("strategy ") + duet::test::strategy_name(s)) !=
            std::string::npos);
    REQUIRE(r.err.find("\"diver\"") != std::string::npos);
    REQUIRE(r.err.find("overflow_death_test.cpp:") != std::string::npos);
  }
}

TEST_CASE("a segfault that is not an overflow keeps its default action",
          "[stackful][overflow][death]") {
  auto r = duet::test::run_in_child([] {
    duet::RuntimeConfig cfg;
    cfg.workers = 1;
    cfg.placement = duet::Placement::none;
    duet::Runtime rt(cfg);
    rt.spawn(duet::stackful({.name = "wild"}), [] {
        volatile std::uintptr_t wild = 16;  // read at run time: no -Warray-bounds
        volatile int* p = reinterpret_cast<int*>(wild);
        *p = 1;
      }).join();
  });
  // Killed by SIGSEGV, or (sanitizer builds) reported by the sanitizer's
  // handler, which exits with an error code.
  REQUIRE((r.signaled || (r.exited && r.exit_code != 0)));
  REQUIRE(r.err.find("stack overflow") == std::string::npos);
}

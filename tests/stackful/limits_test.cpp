// Running out of address space or memory mappings is a StackError at
// spawn, with a message that names the limit, never a crash. Each case runs
// in a forked child (the limits are process-wide).
#include <sys/resource.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "duet/duet.hpp"
#include "fiber_test_util.hpp"
#include "test_util.hpp"

using duet::StackStrategy;

namespace {

std::size_t vm_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  statm >> pages;
  return pages * duet::detail::page_size();
}

long max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  long v = 0;
  in >> v;
  return v;
}

/// Spawns parked fibers until the spawn throws; exits 0 when the message
/// contains `expect` and every spawned fiber then finishes (exit 3 when no
/// error came, 4 on the wrong message).
void spawn_until_error(duet::FiberOptions o, const char* expect, bool limit_as) {
  duet::RuntimeConfig cfg;
  cfg.workers = 2;
  cfg.placement = duet::Placement::none;
  duet::Runtime rt(cfg);
  duet::test::Gate gate;
  std::vector<duet::JoinHandle<void>> hs;
  hs.reserve(200'000);
  if (limit_as) {
    rlimit lim{vm_bytes() + (std::size_t{512} << 20), RLIM_INFINITY};
    lim.rlim_max = lim.rlim_cur;
    setrlimit(RLIMIT_AS, &lim);
  }
  std::string msg;
  try {
    for (int i = 0; i < 1'000'000; ++i) {
      hs.push_back(rt.spawn(duet::stackful(o), [&gate] { duet::wait(gate.wait()); }));
    }
  } catch (const duet::StackError& e) {
    msg = e.what();
  }
  std::fprintf(stderr, "after %zu fibers: %s\n", hs.size(), msg.c_str());
  gate.open();
  for (auto& h : hs) h.join();
  if (msg.empty()) _exit(3);
  if (msg.find(expect) == std::string::npos) _exit(4);
}

}  // namespace

TEST_CASE("RLIMIT_AS: spawning past the address space limit throws StackError",
          "[stackful][limits]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  DUET_SKIP(
      "the sanitizer runtimes reserve terabytes of shadow memory, so RLIMIT_AS cannot be "
      "set just above what the process maps");
#endif
  for (StackStrategy s : {StackStrategy::pooled, StackStrategy::lazy}) {
    INFO(duet::test::strategy_name(s));
    const std::size_t size =
        s == StackStrategy::lazy ? std::size_t{64} << 20 : std::size_t{1} << 20;
    auto r = duet::test::run_in_child(
        [&] { spawn_until_error({.strategy = s, .stack_size = size}, "RLIMIT_AS", true); });
    INFO(r.err);
    REQUIRE(r.exited);
    REQUIRE(r.exit_code == 0);
  }
}

TEST_CASE("vm.max_map_count: spawning past the mapping limit throws StackError",
          "[stackful][limits]") {
#if defined(__SANITIZE_THREAD__)
  DUET_SKIP(
      "TSan maps a thread trace (1 MiB) for every fiber, so near the limit its runtime, not "
      "the stack allocator, is refused a mapping first");
#endif
  const long limit = max_map_count();
  if (limit <= 0 || limit > 200'000) {
    DUET_SKIP("vm.max_map_count is " << limit
                                     << ": reaching it would take minutes and gigabytes (the "
                                        "kernel default is 65530; sysctl -w "
                                        "vm.max_map_count=65530 to run this case)");
  }
  auto r = duet::test::run_in_child([] {
    spawn_until_error({.strategy = StackStrategy::pooled, .stack_size = 8192}, "vm.max_map_count",
                      false);
  });
  INFO(r.err);
  REQUIRE(r.exited);
  REQUIRE(r.exit_code == 0);
}

// Running out of address space or memory mappings is a StackError, with a
// message that names the limit, never a crash: a fiber takes its stack at
// its first run, so the fiber that cannot get one ends with the error and
// its join rethrows it; every other fiber is unharmed. Each case runs in a
// forked child (the limits are process-wide).
#include <sys/resource.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
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

/// Spawns fibers that park until a gate opens, a batch at a time, and
/// waits until each fiber of the batch runs (it counts itself) or has
/// finished without running: a fiber gets its stack at its first run, so
/// the limit shows as a fiber that ends with a StackError. Exits 0 when one
/// did, its join threw a message that contains `expect`, and every other
/// fiber then finishes; exit 3 when no error came, 4 on the wrong message,
/// 5 when a fiber that ran failed.
void spawn_until_error(duet::FiberConfig o, const char* expect, bool limit_as) {
  duet::RuntimeConfig cfg;
  cfg.workers = 2;
  cfg.placement = duet::Placement::none;
  duet::Runtime rt(cfg);
  duet::test::Gate gate;
  std::vector<duet::JoinHandle<void>> hs;
  hs.reserve(1'000'000);
  // Near the limit any allocation may fail: the test's own are made now.
  gate.reserve(1'000'000);
  if (limit_as) {
    rlimit lim{vm_bytes() + (std::size_t{512} << 20), RLIM_INFINITY};
    lim.rlim_max = lim.rlim_cur;
    setrlimit(RLIMIT_AS, &lim);
  }
  std::atomic<std::size_t> started{0};
  std::size_t failed = 0;
  constexpr std::size_t batch = 1000;
  while (failed == 0 && hs.size() < 1'000'000) {
    const std::size_t first = hs.size();
    for (std::size_t i = 0; i < batch; ++i) {
      hs.push_back(rt.spawn(duet::stackful(o), [&gate, &started] {
        started.fetch_add(1);
        duet::wait(gate.wait());
      }));
    }
    for (;;) {
      failed = 0;
      for (std::size_t k = first; k < hs.size(); ++k) failed += hs[k].is_finished() ? 1 : 0;
      if (started.load() + failed == hs.size()) break;
      std::this_thread::yield();
    }
  }
  std::string msg;
  std::size_t errors = 0;
  gate.open();
  for (auto& h : hs) {
    try {
      h.join();
    } catch (const duet::StackError& e) {
      if (msg.empty()) msg = e.what();
      ++errors;
    }
  }
  std::fprintf(stderr, "%zu fibers ran, %zu could not get a stack: %s\n", started.load(), errors,
               msg.c_str());
  if (msg.empty()) _exit(3);
  if (msg.find(expect) == std::string::npos) _exit(4);
  if (started.load() + errors != hs.size()) _exit(5);
}

}  // namespace

TEST_CASE("RLIMIT_AS: a fiber past the address space limit ends with a StackError",
          "[stackful][limits]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  DUET_SKIP(
      "the sanitizer runtimes reserve terabytes of shadow memory, so RLIMIT_AS cannot be "
      "set just above what the process maps");
#endif
  for (StackStrategy s : {StackStrategy::pooled, StackStrategy::lazy}) {
    INFO(duet::test::strategy_name(s));
    // Large stacks: the limit is reached within a few dozen fibers, by a
    // stack mapping, not by the few task blocks (heap) they need meanwhile
    // (with 1 MiB stacks a spawn's block allocation sometimes hit it first
    // and spawn threw std::bad_alloc: also a clear error, but not this one).
    const std::size_t size =
        s == StackStrategy::lazy ? std::size_t{64} << 20 : std::size_t{16} << 20;
    auto r = duet::test::run_in_child(
        [&] { spawn_until_error({.strategy = s, .stack_size = size}, "RLIMIT_AS", true); });
    INFO(r.err);
    REQUIRE(r.exited);
    REQUIRE(r.exit_code == 0);
  }
}

TEST_CASE("vm.max_map_count: a fiber past the mapping limit ends with a StackError",
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

// Measured fibers (FiberConfig::measure_stack): the canary measurement
// of a fiber that finishes while other fibers wait on its worker. A
// finished measured fiber goes back to the worker loop instead of handing
// the worker to the next fiber (fiber.cpp, dying_hand_off): its completion
// is published by the loop after the mark is taken. Before that rule, the
// next fiber's landing published it as the loop would and cleared the
// current task, and the loop crashed when that fiber's run ended.
#include <catch2/catch.hpp>

#include <vector>

#include "duet/duet.hpp"
#include "duet/stackful/introspect.hpp"
#include "test_util.hpp"

namespace {

/// Uses `bytes` of its stack, below the canary's reach.
[[gnu::noinline]] int touch_stack(std::size_t bytes) {
  volatile char buf[16 * 1024];
  for (std::size_t i = 0; i < bytes && i < sizeof buf; i += 64) buf[i] = 1;
  return 1 + buf[0] * 0;
}

}  // namespace

TEST_CASE("measure: measured fibers that finish while others wait are all joined") {
  for (unsigned workers : {1u, 2u}) {
    duet::test::Watchdog wd("measured fibers");
    duet::Runtime rt(duet::test::cpu_only_config(workers));
    const std::uint64_t before = duet::stack_histogram().fibers;
    constexpr int kFibers = 8;
    std::vector<duet::JoinHandle<int>> hs;
    for (int i = 0; i < kFibers; ++i) {
      hs.push_back(
          rt.spawn(duet::stackful({.measure_stack = true}), [] { return touch_stack(8 * 1024); }));
    }
    // An unmeasured fiber among them: a measured one finishing before it
    // must not hand the worker over to it either.
    auto plain = rt.spawn(duet::stackful, [] { return touch_stack(1024); });
    for (auto& h : hs) CHECK(h.join() == 1);
    CHECK(plain.join() == 1);
    rt.shutdown();
    // Each measured fiber's mark was recorded (other tests may add theirs:
    // at least ours).
    CHECK(duet::stack_histogram().fibers >= before + kFibers);
    std::uint64_t on_workers = 0;
    for (const auto& w : rt.stats()) on_workers += w.histograms.fiber_stack.count;
    CHECK(on_workers == kFibers);
  }
}

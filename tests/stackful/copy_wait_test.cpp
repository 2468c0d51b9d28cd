// duet::wait moves an rvalue operation off a copy fiber's stack, so
// primitives with intrusive waiter nodes are safe on copy fibers without
// wait_off_stack.
#include <catch2/catch.hpp>

#include <atomic>
#include <duet/duet.hpp>
#include <vector>

TEST_CASE("copy fibers contend on a mutex through plain duet::wait", "[stackful][copy]") {
  duet::Runtime rt({.workers = 2});
  duet::Mutex mu;
  long counter = 0;
  std::vector<duet::JoinHandle<void>> hs;
  for (int f = 0; f < 16; ++f) {
    hs.push_back(rt.spawn(duet::stackful({.strategy = duet::StackStrategy::copy}), [&] {
      for (int i = 0; i < 500; ++i) {
        auto g = duet::wait(mu.lock());  // rvalue: moved to the heap first
        long v = counter;
        duet::this_fiber::yield();  // suspend while holding: others queue up
        counter = v + 1;
      }
    }));
  }
  for (auto& h : hs) h.join();
  CHECK(counter == 16 * 500);
}

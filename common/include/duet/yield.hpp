// duet/yield.hpp: give the other runnable tasks a turn.
//
// Example (coroutine):
//   co_await duet::yield_now();      // in a Task (fast path: no wake-up)
//   duet::this_fiber::yield();       // in a fiber (fast path: no wake-up)
//   duet::wait(duet::yield_now());   // anywhere: the generic poll path
//
// The yielding task goes to the back of its worker's queue. When nothing
// else is runnable on that worker it runs again at once (the back of an
// empty queue is its front); the injection queue still gets its turn at the
// end of every tick.
#pragma once

#include "duet/poll.hpp"
#include "duet/waker.hpp"

namespace duet {

/// A poll future that is pending once (after waking itself), then ready.
class YieldNow {
 public:
  Poll<void> poll(Context& cx) {
    if (yielded_) return ready();
    yielded_ = true;
    cx.waker().wake_by_ref();
    return pending;
  }

 private:
  bool yielded_ = false;
};

inline YieldNow yield_now() noexcept {
  return {};
}

}  // namespace duet

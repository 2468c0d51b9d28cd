// timer.cpp: which wheel a Sleep registers on, and the fallback wheel for
// timers polled outside any runtime.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "duet/detail/fork.hpp"
#include "duet/detail/immortal.hpp"
#include "sched/thread_context.hpp"
#include "test_clock.hpp"
#include "wheel.hpp"

namespace duet::detail {

namespace {

/// Timers polled by a thread that is not a worker (duet::wait(sleep(..))
/// on main, a Sleep inside a blocking-pool job): one wheel for the process,
/// driven by one thread that sleeps until the next deadline. Started on
/// first use, stopped and joined at exit (never destroyed: duet/detail/immortal.hpp).
class FallbackTimer {
 public:
  FallbackTimer() : wheel_(now_tick()), thread_((fork_guard_arm(), [this] { run(); })) {}
  void stop_and_join() noexcept {
    {
      std::lock_guard g(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  TimerWheel& wheel() noexcept { return wheel_; }
  /// A timer was inserted: the thread may have to wake earlier.
  void kick() {
    {
      std::lock_guard g(mu_);
      ++seq_;
    }
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lk(mu_);
    while (!stop_) {
      std::uint64_t seen = seq_;
      lk.unlock();
      wheel_.advance(now_tick());
      auto timeout = wheel_.park_timeout();
      lk.lock();
      if (stop_ || seq_ != seen) continue;
      if (timeout) {
        cv_.wait_for(lk, *timeout);
      } else {
        cv_.wait(lk);
      }
    }
  }

  TimerWheel wheel_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t seq_ = 0;  // guarded by mu_
  bool stop_ = false;      // guarded by mu_
  std::thread thread_;
};

/// Stops the timer's thread when static destructors run, except in a
/// forked child, where the thread is not there and its lock may be held.
struct StopTimerAtExit {
  FallbackTimer* timer;
  ~StopTimerAtExit() {
    if (!in_forked_child()) timer->stop_and_join();
  }
};

FallbackTimer& fallback() {
  // Before the timer's locks, which its thread may hold in a forked child.
  check_not_forked("a timer outside a runtime");
  static Immortal<FallbackTimer> storage;
  static StopTimerAtExit stop{storage.get()};
  return *stop.timer;
}

}  // namespace

bool timer_register(TimerEntry& e, Context& cx) {
  if (TimerWheel* w = current_timers()) return w->insert(e, cx.waker());
  // Under a test clock a thread off the runtime waits on the clock's wheel,
  // which the clock's steps fire (test_clock.hpp).
  if (TestClock* c = TestClock::installed()) return c->insert_off_runtime(e, cx.waker());
  FallbackTimer& f = fallback();
  if (!f.wheel().insert(e, cx.waker())) return false;
  f.kick();
  return true;
}

bool timer_register_process(TimerEntry& e, const Waker& w) {
  FallbackTimer& f = fallback();
  if (!f.wheel().insert(e, w)) return false;
  f.kick();
  return true;
}

bool timer_repoll(TimerEntry& e, Context& cx) {
  return e.wheel->repoll(e, cx.waker());
}

void timer_cancel(TimerEntry& e) noexcept {
  e.wheel->cancel(e);
}

}  // namespace duet::detail

// timer.cpp: which wheel a Sleep registers on, and the fallback wheel for
// timers polled outside any runtime.
#include <condition_variable>
#include <mutex>

#include "blocking/service.hpp"
#include "duet/detail/fork.hpp"
#include "duet/detail/immortal.hpp"
#include "test_clock.hpp"
#include "wheel.hpp"

namespace duet::detail {

namespace {

/// Timers polled by a thread that is not a worker (duet::wait(sleep(..))
/// on main, a Sleep inside a blocking-pool job): one wheel for the process,
/// driven by a loop that sleeps until the next deadline. The loop is a
/// service of the blocking pool (blocking/service.hpp): it runs on a pool
/// thread while a timer waits on the wheel and gives the thread back when
/// none does; the next timer inserted starts it again. A cancel does not
/// wake it (a worker's cancel pays nothing for this wheel): a loop that
/// waits for a timer cancelled meanwhile gives its thread back at that
/// deadline. Never destroyed (duet/detail/immortal.hpp); at exit the loop is
/// stopped and waited for.
class FallbackTimer : private BlockingService {
 public:
  FallbackTimer() : wheel_(now_tick()) { run = &FallbackTimer::serve; }
  /// Stops the loop and waits for it to return, if it runs (one submitted
  /// and not yet started sees the stop and returns at once, or never runs).
  void stop_and_wait() noexcept {
    std::unique_lock lk(mu_);
    stop_ = true;
    cv_.notify_all();
    cv_.wait(lk, [this] { return !in_loop_; });
  }
  TimerWheel& wheel() noexcept { return wheel_; }
  /// A timer was inserted: the loop may have to wake earlier, or start.
  void kick() {
    bool submit = false;
    {
      std::lock_guard g(mu_);
      ++seq_;
      if (!submitted_ && !stop_) submitted_ = submit = true;
    }
    if (submit) {
      blocking_serve(this);
    } else {
      cv_.notify_all();
    }
  }

 private:
  static void serve(BlockingService* s) { static_cast<FallbackTimer*>(s)->loop(); }

  // An insert bumps seq_ under mu_ after the timer is on the wheel, so the
  // loop either sees the bump (and looks at the wheel again) or has given
  // up `submitted_` first, and then the insert's kick submits it again.
  void loop() {
    std::unique_lock lk(mu_);
    in_loop_ = true;
    while (!stop_) {
      const std::uint64_t seen = seq_;
      lk.unlock();
      wheel_.advance(now_tick());
      const auto timeout = wheel_.park_timeout();
      lk.lock();
      if (stop_ || seq_ != seen) continue;
      if (!timeout) break;  // no timer waits: the thread goes back to the pool
      cv_.wait_for(lk, *timeout);
    }
    submitted_ = false;
    in_loop_ = false;
    cv_.notify_all();  // stop_and_wait
  }

  TimerWheel wheel_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t seq_ = 0;   // guarded by mu_
  bool stop_ = false;       // guarded by mu_
  bool submitted_ = false;  // guarded by mu_: given to the pool, loop not ended
  bool in_loop_ = false;    // guarded by mu_: the loop runs
};

/// Stops the timer's loop when static destructors run, except in a forked
/// child, where its thread is not there and its lock may be held.
struct StopTimerAtExit {
  FallbackTimer* timer;
  ~StopTimerAtExit() {
    if (!in_forked_child()) timer->stop_and_wait();
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
  // While one test clock lives a thread off the runtime waits on that
  // clock's wheel, which its steps fire (test_clock.hpp); with several, in
  // real time.
  if (TestClock* c = TestClock::sole()) return c->insert_off_runtime(e, cx.waker());
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

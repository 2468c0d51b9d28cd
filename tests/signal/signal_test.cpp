// signal_test.cpp: signal subscriptions (duet/signal/signal.hpp) on both
// drivers x both models: a delivery by kill(getpid()) and by raise() on
// another thread, several subscribers, a cancelled recv; the disposition
// restored by the last unsubscribe; the error paths. The fd count is
// checked around each case (the process-wide eventfd is made before the
// first count by a warm-up subscription).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../async_fd/model_matrix.hpp"
#include "../sync/sync_util.hpp"

using namespace std::chrono_literals;

#define DUET_SCENARIOS "../signal/signal_scenarios.inc"
#include "both_models.inc"

namespace {

void wait_for(const std::atomic<int>& v, int at_least) {
  while (v.load() < at_least) std::this_thread::yield();
}

/// Makes the process-wide eventfd before a case counts fds: it lives as
/// long as the process by design (duet/signal/signal.hpp).
void warm_up() {
  auto s = duet::signal::subscribe(SIGUSR1);
  REQUIRE(s);
}

void (*disposition(int sig))(int) {
  struct sigaction cur {};
  ::sigaction(sig, nullptr, &cur);
  return cur.sa_handler;
}

}  // namespace

TEST_CASE("signal: kill(getpid()) reaches every subscriber", "[signal]") {
  warm_up();
  IO_MATRIX();
  duet::iotest::Watchdog wd("signal broadcast");
  auto rt = duet::iotest::make_rt(drv);
  for (int sig : {SIGHUP, SIGINT, SIGTERM, SIGCHLD}) {
    INFO("signal " << sig);
    const auto before = disposition(sig);  // Catch2 has its own for SIGINT, SIGTERM
    std::atomic<int> subscribed{0}, parked{0};
    std::vector<duet::JoinHandle<std::string>> hs;
    for (int i = 0; i < 3; ++i) {
      hs.push_back(SPAWN_MODEL(*rt, model, receive_one, sig, &subscribed, &parked));
    }
    wait_for(parked, 3);
    REQUIRE(::kill(::getpid(), sig) == 0);
    for (auto& h : hs) CHECK(h.join() == "");
    CHECK(disposition(sig) == before);  // restored by the last subscriber
  }
}

TEST_CASE("signal: raise() on another thread reaches a subscriber", "[signal]") {
  warm_up();
  IO_MATRIX();
  duet::iotest::Watchdog wd("signal raise");
  auto rt = duet::iotest::make_rt(drv);
  std::atomic<int> subscribed{0}, parked{0};
  auto h = SPAWN_MODEL(*rt, model, receive_one, SIGUSR2, &subscribed, &parked);
  wait_for(parked, 1);
  std::thread([] { ::raise(SIGUSR2); }).join();
  CHECK(h.join() == "");
}

TEST_CASE("signal: a signal before the first recv is not lost", "[signal]") {
  warm_up();
  IO_MATRIX();
  duet::iotest::Watchdog wd("signal counted");
  auto rt = duet::iotest::make_rt(drv);
  std::atomic<int> subscribed{0}, go{0};
  auto h = SPAWN_MODEL(*rt, model, counted, SIGUSR2, &subscribed, &go);
  wait_for(subscribed, 1);
  for (int i = 0; i < 3; ++i) REQUIRE(::kill(::getpid(), SIGUSR2) == 0);
  go.store(1);
  CHECK(h.join() == "");
}

TEST_CASE("signal: a cancelled recv, then a delivery", "[signal][cancel]") {
  warm_up();
  IO_MATRIX();
  duet::iotest::Watchdog wd("signal cancel");
  auto rt = duet::iotest::make_rt(drv);
  std::atomic<int> parked{0};
  auto h = SPAWN_MODEL(*rt, model, recv_after_cancel, SIGHUP, &parked);
  wait_for(parked, 1);
  REQUIRE(::kill(::getpid(), SIGHUP) == 0);
  CHECK(h.join() == "");
}

namespace {
/// On a worker: polls a recv by hand once (pending: the hub holds a clone of
/// the waker), then either drops it, or raises the signal and polls it to
/// completion. Returns the clones of the waker still alive afterwards.
int waker_refs_after_recv(duet::signal::Subscription* sub, bool complete,
                          duet::synctest::CountingWaker& cw) {
  {
    auto f = sub->recv();
    if (!duet::synctest::poll_once(f, cw).is_pending()) return -1;
    if (cw.refs.load() < 1) return -2;  // the hub holds one while pending
    if (complete) {
      ::raise(sub->signo());  // the handler has counted when raise returns
      auto r = duet::synctest::poll_once(f, cw);
      if (r.is_pending() || !r.value() || *r.value() != 1) return -3;
    }
  }
  return cw.refs.load();
}
}  // namespace

TEST_CASE("signal: a recv that completes or is dropped keeps no waker", "[signal][cancel]") {
  warm_up();
  IO_MATRIX();
  duet::iotest::Watchdog wd("signal waker");
  // The wakers outlive the runtime: a stale one would be counted, never
  // freed under the driver.
  duet::synctest::CountingWaker cws[2];
  auto rt = duet::iotest::make_rt(drv);
  auto sub = duet::signal::subscribe(SIGURG);
  REQUIRE(sub);
  for (const bool complete : {false, true}) {
    INFO((complete ? "completed" : "dropped") << " recv");
    int left = -100;
    duet::synctest::CountingWaker* cw = &cws[complete ? 1 : 0];
    if (model == duet::iotest::Model::stackless) {
      left = rt->spawn([](duet::signal::Subscription* s, bool c,
                          duet::synctest::CountingWaker* w) -> duet::Task<int> {
                 co_return waker_refs_after_recv(s, c, *w);
               }(&*sub, complete, cw))
                 .join();
    } else {
      left = rt->spawn(duet::stackful, [&] {
                 return waker_refs_after_recv(&*sub, complete, *cw);
               }).join();
    }
    // Neither the hub nor the driver keeps one: the eventfd's wait takes
    // its waker back when dropped (epoll's registration, io_uring's
    // cancelled poll request).
    CHECK(left == 0);
  }
}

namespace {
/// On a worker: polls a recv once (pending: its node is linked in the hub),
/// moves it and drops the original, raises the signal and polls the moved
/// one to completion; then polls a second recv, which waits for the next
/// delivery, and drops it. Returns the clones of the waker still alive.
int waker_refs_after_moved_recv(duet::signal::Subscription* sub,
                                duet::synctest::CountingWaker& cw) {
  std::optional<duet::signal::RecvFuture> moved;
  {
    auto f = sub->recv();
    if (!duet::synctest::poll_once(f, cw).is_pending()) return -1;
    moved.emplace(std::move(f));
  }
  if (cw.refs.load() < 1) return -2;  // the moved recv's node holds one
  ::raise(sub->signo());
  auto r = duet::synctest::poll_once(*moved, cw);
  if (r.is_pending() || !r.value() || *r.value() != 1) return -3;
  moved.reset();
  auto next = sub->recv();
  if (!duet::synctest::poll_once(next, cw).is_pending()) return -4;
  return cw.refs.load() >= 1 ? 0 : -5;
}
}  // namespace

TEST_CASE("signal: a pending recv moved to a new place is completed there", "[signal][cancel]") {
  warm_up();
  IO_MATRIX();
  duet::iotest::Watchdog wd("signal moved recv");
  duet::synctest::CountingWaker cw;  // outlives the runtime, as above
  auto rt = duet::iotest::make_rt(drv);
  auto sub = duet::signal::subscribe(SIGURG);
  REQUIRE(sub);
  int got = -100;
  if (model == duet::iotest::Model::stackless) {
    got = rt->spawn([](duet::signal::Subscription* s,
                       duet::synctest::CountingWaker* w) -> duet::Task<int> {
              co_return waker_refs_after_moved_recv(s, *w);
            }(&*sub, &cw))
              .join();
  } else {
    got = rt->spawn(duet::stackful, [&] { return waker_refs_after_moved_recv(&*sub, cw); }).join();
  }
  CHECK(got == 0);
  CHECK(cw.refs.load() == 0);  // every recv dropped: no node and no wait keeps one
}

TEST_CASE("signal: the last unsubscribe restores the previous disposition", "[signal]") {
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  struct sigaction old {};
  REQUIRE(::sigaction(SIGUSR2, &ign, &old) == 0);
  {
    auto a = duet::signal::subscribe(SIGUSR2);
    auto b = duet::signal::subscribe(SIGUSR2);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(disposition(SIGUSR2) != SIG_IGN);
    a->reset();
    CHECK(disposition(SIGUSR2) != SIG_IGN);  // b still subscribed
  }
  CHECK(disposition(SIGUSR2) == SIG_IGN);
  ::sigaction(SIGUSR2, &old, nullptr);
}

TEST_CASE("signal: signals that cannot be caught or report faults are EINVAL", "[signal][error]") {
  warm_up();
  const int before = duet::iotest::fd_count();
  for (int sig : {0, -1, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, NSIG}) {
    auto s = duet::signal::subscribe(sig);
    REQUIRE_FALSE(s);
    CHECK(s.error() == std::errc::invalid_argument);
  }
  duet::signal::Subscription empty;
  auto r = duet::wait(empty.recv());
  CHECK(r.error() == std::errc::bad_file_descriptor);
  CHECK(duet::iotest::fd_count() == before);
}

// A plain thread blocks in recv until a signal comes. The sender repeats
// the signal until the waiter has returned (bounded): under TSan a signal
// the kernel has delivered is sometimes never passed to the handler (seen
// in CI and here, about 1 run in 150, with the kernel's pending set empty
// and the handler's count at zero), so one signal is not enough to prove
// the waiter's side there. Every delivery that does reach the handler must
// wake the waiter, which is what this case asserts.
TEST_CASE("signal: a plain thread waits for a delivery", "[signal]") {
  duet::iotest::Watchdog wd("signal plain thread");
  auto s = duet::signal::subscribe(SIGUSR1);
  REQUIRE(s);
  const pthread_t waiter = ::pthread_self();
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread sender([&] {
    std::unique_lock lk(mu);
    for (int i = 0; i < 1000 && !done; ++i) {
      ::pthread_kill(waiter, SIGUSR1);
      cv.wait_for(lk, 10ms, [&] { return done; });
    }
  });
  auto n = duet::wait(s->recv());
  {
    std::lock_guard lk(mu);
    done = true;
  }
  cv.notify_one();
  sender.join();
  if (!n) FAIL("recv failed: " << n.error().message());
  CHECK(*n >= 1);
}

// sync_util.hpp: helpers for the sync, channel and timer tests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <duet/duet.hpp>
#include "test_util.hpp"

/// An assertion for code running in tasks and on other threads (Catch2's
/// are not thread-safe): prints and aborts on failure.
#define TCHECK(cond)                                                                 \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: TCHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace duet::synctest {

using namespace std::chrono_literals;

/// A waker that counts its wakes: drives futures by hand, deterministically.
struct CountingWaker {
  std::atomic<int> wakes{0};
  std::atomic<int> refs{0};  // live clones (checks that primitives drop wakers)
  static void clone(void* d) { static_cast<CountingWaker*>(d)->refs.fetch_add(1); }
  static void wake(void* d) {
    auto* w = static_cast<CountingWaker*>(d);
    w->wakes.fetch_add(1);
    w->refs.fetch_sub(1);
  }
  static void wake_by_ref(void* d) { static_cast<CountingWaker*>(d)->wakes.fetch_add(1); }
  static void drop(void* d) { static_cast<CountingWaker*>(d)->refs.fetch_sub(1); }
  static constexpr WakerVTable vt{&clone, &wake, &wake_by_ref, &drop};

  /// A borrowed waker (not counted in refs) for a Context.
  struct Cx {
    explicit Cx(CountingWaker& c) : w(Waker::adopt(&c, &vt)), cx(w) {}
    ~Cx() { std::move(w).release(); }
    Waker w;
    Context cx;
  };
};

/// Polls `f` once with `cw`'s waker.
template <class F>
auto poll_once(F& f, CountingWaker& cw) {
  CountingWaker::Cx c(cw);
  return f.poll(c.cx);
}

// The watchdog and the sanitizer flag are shared with the core tests.
using duet::test::sanitized;
using duet::test::Watchdog;

inline RuntimeConfig small_rt(unsigned workers = 2) {
  RuntimeConfig c;
  c.workers = workers;
  c.placement = Placement::none;
  return c;
}

/// A poll future that never completes.
struct Never {
  Poll<int> poll(Context&) { return pending; }
};

/// Waits (spinning politely) until pred() holds; false after `limit`.
template <class P>
bool eventually(P pred, std::chrono::milliseconds limit = 10000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace duet::synctest

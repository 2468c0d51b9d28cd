// test_util.hpp: small helpers shared by the tests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>

#include <duet/duet.hpp>

namespace duet::test {

/// A runtime of `workers` unpinned threads with the default I/O driver.
inline RuntimeConfig unpinned_config(unsigned workers = 2) {
  RuntimeConfig c;
  c.workers = workers;
  c.placement = Placement::none;
  return c;
}

/// A runtime of `workers` unpinned threads and no I/O driver: for tests of
/// scheduling and task life cycle that do no I/O.
inline RuntimeConfig cpu_only_config(unsigned workers) {
  RuntimeConfig c;
  c.workers = workers;
  c.placement = Placement::none;
  c.io_driver = IoDriver::none;
  return c;
}

/// Records that the running test case skipped itself (tests/support/main.cpp
/// writes it to the ledger; a run of that one case exits 77, which CTest
/// reports as "Skipped").
void note_skip(const std::string& reason);

/// Skips the rest of the test case with a stated reason: prints "SKIP:
/// reason", records it and returns from the test case body. Use it only
/// where a case cannot run on this machine or build; a partial skip (one
/// driver of two) is a WARN, and the case still passes on what it ran.
#define DUET_SKIP(reason_stream)                  \
  do {                                            \
    std::ostringstream duet_skip_os_;             \
    duet_skip_os_ << reason_stream;               \
    WARN("SKIP: " << duet_skip_os_.str());        \
    ::duet::test::note_skip(duet_skip_os_.str()); \
    return;                                       \
  } while (false)

/// A poll future that never completes (and never wakes anyone): for
/// cancellation and shutdown tests.
struct Never {
  Poll<int> poll(Context&) { return pending; }
};

/// A poll future that forwards to `inner` and adds one to `*parked` the
/// first time `inner` returns pending: the observable "this operation is
/// parked now" that a test waits for instead of sleeping.
template <class F>
struct NotePending {
  F inner;
  std::atomic<int>* parked;
  bool noted = false;
  auto poll(Context& cx) {
    auto p = inner.poll(cx);
    if (p.is_pending() && !noted) {
      noted = true;
      parked->fetch_add(1);
    }
    return p;
  }
};
template <class F>
NotePending<F> note_pending(F&& f, std::atomic<int>* parked) {
  return NotePending<F>{std::forward<F>(f), parked};
}

/// Aborts the process with a message if not disarmed within `limit`:
/// turns a hang (a lost wake-up) into a clear failure.
class Watchdog {
 public:
  explicit Watchdog(const char* what, std::chrono::seconds limit = std::chrono::seconds(120))
      : t_([this, what, limit] {
          auto end = std::chrono::steady_clock::now() + limit;
          while (!done_.load(std::memory_order_acquire)) {
            if (std::chrono::steady_clock::now() > end) {
              std::fprintf(stderr, "watchdog: '%s' hung (lost wake-up?)\n", what);
              std::abort();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }) {}
  ~Watchdog() {
    done_.store(true, std::memory_order_release);
    t_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread t_;
};

/// Sanitizer builds run the stress tests at a smaller N.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif

/// UBSan's vptr check needs free descriptors (docs/io.md, "EMFILE and
/// UBSan"). The ASan stage's UBSan leaves it out; a build that turns it on
/// defines DUET_UBSAN_VPTR.
#if defined(DUET_UBSAN_VPTR)
inline constexpr bool ubsan_vptr = true;
#else
inline constexpr bool ubsan_vptr = false;
#endif

}  // namespace duet::test

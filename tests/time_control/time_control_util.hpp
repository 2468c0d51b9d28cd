// time_control_util.hpp: runtimes with a test clock or a seed, and a log of
// (event, clock offset) pairs that tasks on several workers append to.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include <duet/duet.hpp>

namespace duet::test {

inline RuntimeConfig clocked(ClockMode m, unsigned workers = 1) {
  RuntimeConfig c;
  c.workers = workers;
  c.clock = m;
  return c;
}

/// Events in the order they happened, each with Clock::now() - t0.
class EventLog {
 public:
  explicit EventLog(Instant t0) : t0_(t0) {}
  void note(int id) {
    std::lock_guard g(mu_);
    v_.emplace_back(id, Clock::now() - t0_);
  }
  std::vector<std::pair<int, Clock::duration>> take() {
    std::lock_guard g(mu_);
    return std::exchange(v_, {});
  }

 private:
  Instant t0_;
  std::mutex mu_;
  std::vector<std::pair<int, Clock::duration>> v_;
};

/// A test clock fires a timer with the clock at its deadline rounded up to
/// the wheel's tick (1024 ns).
inline bool at_deadline(Clock::duration got, Clock::duration deadline) {
  return got >= deadline && got < deadline + std::chrono::nanoseconds(1024);
}

}  // namespace duet::test

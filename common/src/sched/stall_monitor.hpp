// stall_monitor.hpp: the stall detector (RuntimeConfig::stall_threshold,
// duet/stall.hpp). One monitor thread per runtime that turned it on reads
// each worker's run count (WorkerStats::polls, which every run already
// increments) every threshold / 2. A worker whose count has not moved for a
// threshold, and that has not parked since its current run began, is inside
// one run: the monitor sends it SIGURG, whose handler (on the stalled
// worker, so the task it reads is alive) notes the task and takes a
// backtrace into the worker's StallCapture; the monitor then symbolizes it
// and hands the report to RuntimeConfig::on_stall. Nothing is added to the
// workers' hot path: the one new store is in park().
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "duet/detail/stackful_ops.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/stall.hpp"

namespace duet::detail {

class Scheduler;
class Worker;

/// What the signal handler leaves for the monitor; one per worker. The
/// phase is the handshake: the monitor moves idle -> requested and sends
/// the signal; the handler moves requested -> capturing, writes the plain
/// fields, then -> captured; the monitor reads them and moves back to idle
/// (or, giving up, requested -> idle, after which a late handler writes
/// nothing).
struct StallCapture {
  static constexpr int kMaxFrames = 48;
  enum Phase : int { idle, requested, capturing, captured };
  std::atomic<int> phase{idle};  // seq_cst: a rare handshake, no order to argue
  std::uint64_t polls = 0;       // the worker's run count when the signal came
  bool in_task = false;          // a task was running (not the loop itself)
  TaskKind kind = TaskKind::coroutine;
  TaskSite site{};
  int depth = 0;
  void* frames[kMaxFrames] = {};
};

class StallMonitor {
 public:
  /// Installs the signal handler (once per process) and starts the thread.
  explicit StallMonitor(Scheduler& s);
  /// Stops and joins the thread: call before the workers exit.
  ~StallMonitor();
  StallMonitor(const StallMonitor&) = delete;
  StallMonitor& operator=(const StallMonitor&) = delete;

 private:
  using Clock = std::chrono::steady_clock;
  /// What the monitor last saw of one worker.
  struct Seen {
    std::uint64_t polls = 0;
    Clock::time_point since{};  // when it first read this count
    bool handled = false;       // this run was already captured (or tried)
  };
  void run();
  void look(Clock::time_point now);
  /// Signals `w` and waits for its capture; false when the worker had moved
  /// on past run `polls`, or was not in a task.
  bool capture(Worker& w, std::uint64_t polls, StallReport& r);
  void deliver(StallReport& r, Clock::time_point now);

  Scheduler& sched_;
  const std::chrono::nanoseconds threshold_;
  std::vector<Seen> seen_;
  Clock::time_point last_report_{};
  bool reported_any_ = false;
  unsigned long suppressed_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace duet::detail

// stall_monitor.cpp: the stall detector's monitor thread, its SIGURG
// handler and the symbolizing of what the handler captured.
//
// Why glibc's backtrace(): it is in every glibc, needs no new dependency
// (libunwind-dev or Boost.Stacktrace would add one to every consumer), and
// is safe in a signal handler once warmed up: its first call loads
// libgcc_s (dlopen, malloc), so install_handler() calls it once before any
// signal can arrive; later calls only walk the stack with the unwind
// tables. Symbolizing (symbols.hpp, which reads symbol tables and
// allocates) happens on the monitor thread, never in the handler.
#include "stall_monitor.hpp"

#include <execinfo.h>
#include <pthread.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "scheduler.hpp"
#include "symbols.hpp"
#include "thread_context.hpp"
#include "worker.hpp"

namespace duet {

std::string StallReport::text() const {
  std::string s =
      "duet: stall: worker " + std::to_string(worker) + " has run one " + kind +
      " task for at least " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(running_for).count()) +
      " ms";
  if (name != nullptr) s += std::string(" (") + name + ")";
  if (file != nullptr) s += std::string(", spawned at ") + file + ":" + std::to_string(line);
  if (suppressed != 0) s += " [" + std::to_string(suppressed) + " earlier stalls not reported]";
  s += "\n";
  for (std::size_t i = 0; i < backtrace.size(); ++i) {
    s += "  #" + std::to_string(i) + " " + backtrace[i] + "\n";
  }
  return s;
}

namespace detail {
namespace {

constexpr int kStallSignal = SIGURG;
// At most one report per runtime in this interval; the others are counted.
constexpr std::chrono::seconds kReportInterval{1};
// How long the monitor waits for a signalled worker's capture.
constexpr std::chrono::seconds kCaptureWait{1};

/// The handler: on a worker, if its monitor asked, note the running task
/// and take the backtrace. Only async-signal-safe work: atomics on lock-free
/// ints, plain stores, a read of the (initial-exec) thread context, and the
/// warmed-up backtrace().
void on_stall_signal(int) noexcept {
  const int saved_errno = errno;
  if (Worker* w = tl_context.worker) {
    StallCapture& c = w->stall_capture();
    int expected = StallCapture::requested;
    if (c.phase.compare_exchange_strong(expected, StallCapture::capturing)) {
      c.polls = w->runs();
      // The task running here cannot be freed while this handler
      // interrupts its run: reading it is safe.
      const TaskHeader* t = running_task();
      c.in_task = t != nullptr;
      if (t != nullptr) {
        c.kind = t->vtable->kind;
        const StackfulOps* ops = t->vtable->stackful;
        c.site = ops != nullptr ? ops->site(t) : TaskSite{};
      }
      c.depth = ::backtrace(c.frames, StallCapture::kMaxFrames);
      c.phase.store(StallCapture::captured);
    }
  }
  errno = saved_errno;
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    void* warm[1];
    (void)::backtrace(warm, 1);  // loads libgcc_s now, not in the handler
    struct sigaction sa {};
    sa.sa_handler = &on_stall_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // an interrupted system call goes on
    sigaction(kStallSignal, &sa, nullptr);
  });
}

}  // namespace

StallMonitor::StallMonitor(Scheduler& s)
    : sched_(s), threshold_(s.cfg.stall_threshold), seen_(s.workers.size()) {
  install_handler();
  thread_ = std::thread([this] { run(); });
}

StallMonitor::~StallMonitor() {
  {
    std::lock_guard g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StallMonitor::run() {
  std::unique_lock lk(mu_);
  while (!cv_.wait_for(lk, threshold_ / 2, [&] { return stop_; })) {
    lk.unlock();
    look(Clock::now());
    lk.lock();
  }
}

void StallMonitor::look(Clock::time_point now) {
  for (std::size_t i = 0; i < seen_.size(); ++i) {
    Worker& w = *sched_.workers[i];
    Seen& seen = seen_[i];
    const std::uint64_t polls = w.runs();
    if (polls != seen.polls || seen.since == Clock::time_point{}) {
      seen = Seen{polls, now, false};
      continue;
    }
    // Parked since this run began (or never ran): idle, not stalled.
    if (seen.handled || w.runs_at_park() == polls || now - seen.since < threshold_) continue;
    seen.handled = true;
    StallReport r;
    if (!capture(w, polls, r)) continue;
    r.worker = static_cast<unsigned>(i);
    r.running_for = now - seen.since;
    w.count_stall();
    deliver(r, now);
  }
}

bool StallMonitor::capture(Worker& w, std::uint64_t polls, StallReport& r) {
  StallCapture& c = w.stall_capture();
  c.phase.store(StallCapture::requested);
  if (pthread_kill(w.native_handle(), kStallSignal) != 0) {
    c.phase.store(StallCapture::idle);
    return false;
  }
  const auto until = deadline_after(kCaptureWait);
  while (c.phase.load() != StallCapture::captured) {
    int expected = StallCapture::requested;
    if (Clock::now() >= until && c.phase.compare_exchange_strong(expected, StallCapture::idle)) {
      return false;  // never delivered; a late handler now writes nothing
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const bool same_run = c.in_task && c.polls == polls;
  if (same_run) {
    r.kind = to_string(c.kind).data();  // a literal: null-terminated
    r.name = c.site.name;
    r.file = c.site.file;
    r.line = c.site.line;
    r.backtrace = symbolize(c.frames, c.depth);
  }
  c.phase.store(StallCapture::idle);
  return same_run;
}

void StallMonitor::deliver(StallReport& r, Clock::time_point now) {
  if (reported_any_ && now - last_report_ < kReportInterval) {
    ++suppressed_;
    return;
  }
  reported_any_ = true;
  last_report_ = now;
  r.suppressed = suppressed_;
  suppressed_ = 0;
  if (sched_.cfg.on_stall) {
    try {
      sched_.cfg.on_stall(r);
    } catch (...) {
      std::fputs("duet: RuntimeConfig::on_stall threw; the report is dropped\n", stderr);
    }
    return;
  }
  std::fputs(r.text().c_str(), stderr);
}

}  // namespace detail
}  // namespace duet

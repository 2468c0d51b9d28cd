// explorer.cpp: the depth-first schedule search of explorer.hpp. Threads
// pass a baton: exactly one of them (or the controller) runs at a time.
#include "explorer.hpp"

#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

namespace duet::test {
namespace {

struct Run {
  std::mutex mu;
  std::condition_variable cv;
  int turn = -1;  // the thread allowed to run; -1: the controller
  std::vector<char> done;
  std::vector<const int*> waiting;  // per thread: the lock holder it waits on
  std::vector<std::string> trace;
  std::string failure;
};

Run* g_run = nullptr;             // the schedule being run (one explore() at a time)
thread_local int tl_thread = -1;  // this thread's index in g_run, -1 outside

/// A choice made at a point with more than one runnable thread.
struct Choice {
  std::size_t taken;
  std::size_t options;
};

/// Hands the baton back to the controller and waits for this thread's turn.
void wait_turn(Run& r, int me) {
  std::unique_lock lk(r.mu);
  r.turn = -1;
  r.cv.notify_all();
  r.cv.wait(lk, [&] { return r.turn == me; });
}

/// Runs one schedule: follows `path` while it lasts, then takes the first
/// runnable thread at each point and appends the new choices to `path`.
void run_one(const Explorer::Case& c, std::vector<Choice>& path, Run& r) {
  const std::size_t n = c.threads.size();
  r.done.assign(n, 0);
  r.waiting.assign(n, nullptr);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    threads.emplace_back([&r, &c, i] {
      tl_thread = static_cast<int>(i);
      {
        std::unique_lock lk(r.mu);
        r.cv.wait(lk, [&] { return r.turn == static_cast<int>(i); });
      }
      try {
        c.threads[i]();
      } catch (const std::exception& e) {
        Explorer::fail(std::string("thread ") + std::to_string(i) + " threw: " + e.what());
      }
      std::lock_guard lk(r.mu);
      r.done[i] = 1;
      r.turn = -1;
      r.cv.notify_all();
    });
  }
  // Each thread's code before its first point touches nothing shared (every
  // shared access is a point): start them in order, without a choice.
  for (std::size_t i = 0; i < n; ++i) {
    std::unique_lock lk(r.mu);
    r.turn = static_cast<int>(i);
    r.cv.notify_all();
    r.cv.wait(lk, [&] { return r.turn == -1; });
  }
  std::size_t depth = 0;
  for (;;) {
    std::vector<std::size_t> runnable;
    std::size_t left = n;  // some thread not done (n: none)
    {
      std::lock_guard lk(r.mu);
      for (std::size_t i = 0; i < n; ++i) {
        if (r.done[i] != 0) continue;
        left = i;
        if (r.waiting[i] == nullptr || *r.waiting[i] == -1) runnable.push_back(i);
      }
    }
    if (left == n) break;
    if (runnable.empty()) {
      // Every thread left waits for a lock: fail, and let one go on (its
      // lock() sees the holder and the run ends as a failure).
      Explorer::fail("deadlock: every thread left waits for a lock");
      runnable.push_back(left);
    }
    std::size_t pick = 0;
    if (runnable.size() > 1) {
      if (depth == path.size()) path.push_back(Choice{0, runnable.size()});
      pick = path[depth].taken;
      ++depth;
    }
    std::unique_lock lk(r.mu);
    r.waiting[runnable[pick]] = nullptr;
    r.turn = static_cast<int>(runnable[pick]);
    r.cv.notify_all();
    r.cv.wait(lk, [&] { return r.turn == -1; });
  }
  for (auto& t : threads) t.join();
  path.resize(depth);
}

/// The next schedule in depth-first order; false when none is left.
bool advance(std::vector<Choice>& path) {
  while (!path.empty() && path.back().taken + 1 >= path.back().options) path.pop_back();
  if (path.empty()) return false;
  ++path.back().taken;
  return true;
}

}  // namespace

Explorer::Result Explorer::explore(const std::function<Case()>& make, std::size_t limit) {
  Result res;
  std::vector<Choice> path;
  for (;;) {
    Run r;
    g_run = &r;
    Case c = make();
    run_one(c, path, r);
    if (r.failure.empty() && c.check) {
      try {
        c.check();
      } catch (const std::exception& e) {
        fail(std::string("the check threw: ") + e.what());
      }
    }
    g_run = nullptr;
    ++res.schedules;
    if (!r.failure.empty()) {
      res.failure = r.failure;
      std::ostringstream os;
      for (const auto& line : r.trace) os << line << "\n";
      res.trace = os.str();
      return res;
    }
    if (!advance(path)) {
      res.exhausted = true;
      return res;
    }
    if (res.schedules >= limit) return res;
  }
}

void Explorer::point(const char* what) {
  Run* r = g_run;
  const int me = tl_thread;
  if (r == nullptr || me < 0) return;
  {
    std::lock_guard lk(r->mu);
    r->trace.push_back("thread " + std::to_string(me) + ": " + what);
  }
  wait_turn(*r, me);
}

int Explorer::point_waiting(const char* what, const int* held) {
  Run* r = g_run;
  const int me = tl_thread;
  if (r == nullptr || me < 0) return -2;
  {
    std::lock_guard lk(r->mu);
    r->trace.push_back("thread " + std::to_string(me) + ": " + what);
    r->waiting[static_cast<std::size_t>(me)] = held;
  }
  wait_turn(*r, me);
  return me;
}

void Explorer::fail(const std::string& why) {
  Run* r = g_run;
  if (r == nullptr) return;
  std::lock_guard lk(r->mu);
  if (r->failure.empty()) r->failure = why;
}

}  // namespace duet::test

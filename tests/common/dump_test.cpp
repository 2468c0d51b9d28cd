// dump_tasks (duet/dump.hpp): tasks that have parked are described one line
// each; tasks that have not parked yet (queued behind a busy worker, or in
// their first run) are counted in the total; when everything has finished
// the count returns to zero, also when tasks are spawned on one worker and
// finish on another.
#include "duet/dump.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "duet/duet.hpp"
#include "test_util.hpp"

namespace {

/// Pending until opened; wakes every waiter.
struct Gate {
  std::mutex mu;
  bool open = false;
  std::vector<duet::Waker> wakers;
  std::size_t waiters() {
    std::lock_guard g(mu);
    return wakers.size();
  }
  void release() {
    std::vector<duet::Waker> ws;
    {
      std::lock_guard g(mu);
      open = true;
      ws.swap(wakers);
    }
    for (auto& w : ws) w.wake_by_ref();
  }
};
struct GateWait {
  Gate* g;
  duet::Poll<void> poll(duet::Context& cx) {
    std::lock_guard l(g->mu);
    if (g->open) return duet::ready();
    g->wakers.push_back(cx.waker());
    return duet::pending;
  }
};
duet::Task<void> parks_on(Gate& g) {
  co_await GateWait{&g};
}

/// Spins inside one poll until released: its worker runs nothing else.
struct Spin {
  std::atomic<bool>* release;
  std::atomic<bool>* spinning;
  duet::Poll<void> poll(duet::Context&) {
    spinning->store(true);
    while (!release->load()) std::this_thread::yield();
    return duet::ready();
  }
};

duet::Task<int> value(int i) {
  co_return i;
}

std::size_t lines_starting_with(const std::string& s, const std::string& prefix) {
  std::size_t n = 0;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("dump_tasks describes parked tasks and counts the ones that have not parked yet",
          "[dump]") {
  duet::test::Watchdog wd("dump_tasks");
  duet::Runtime rt({.workers = 1});
  Gate gate;
  std::vector<duet::JoinHandle<void>> parked;
  for (int i = 0; i < 3; ++i) parked.push_back(rt.spawn(parks_on(gate)));
  while (gate.waiters() < 3) std::this_thread::yield();

  std::atomic<bool> release{false}, spinning{false};
  auto blocker = rt.spawn(Spin{&release, &spinning});
  while (!spinning.load()) std::this_thread::yield();
  std::vector<duet::JoinHandle<int>> queued;  // behind the blocker: never run yet
  for (int i = 0; i < 5; ++i) queued.push_back(rt.spawn(value(i)));

  std::ostringstream os;
  CHECK(duet::dump_tasks(rt, os) == 9);  // 3 parked + the blocker + 5 queued
  const std::string out = os.str();
  INFO(out);
  CHECK(lines_starting_with(out, "task ") == 3);
  CHECK(out.find("9 live tasks: 3 above (parked at least once), 6 not parked yet") !=
        std::string::npos);

  release = true;
  blocker.join();
  gate.release();
  for (auto& h : parked) h.join();
  int sum = 0;
  for (auto& h : queued) sum += h.join();
  CHECK(sum == 10);
  // A join returns once the result is published; the worker lets the task
  // go just after. Wait for that (the watchdog turns a leak into a failure).
  std::ostringstream after;
  while (duet::dump_tasks(rt, after) != 0) after.str("");
  CHECK(after.str() ==
        "0 live tasks: 0 above (parked at least once), 0 not parked yet (queued or "
        "running)\n");
}

TEST_CASE("dump_tasks counts tasks spawned from a worker and finished on another", "[dump]") {
  duet::test::Watchdog wd("dump_tasks across workers");
  duet::Runtime rt({.workers = 2});
  for (int round = 0; round < 20; ++round) {
    rt.block_on([](duet::Runtime&) -> duet::Task<void> {
      std::vector<duet::JoinHandle<int>> hs;
      for (int i = 0; i < 500; ++i) hs.push_back(duet::spawn(value(i)));
      for (auto& h : hs) (void)co_await h;
    }(rt));
  }
  // The last root is let go just after block_on returns: wait for it (the
  // watchdog turns a count that never returns to zero into a failure).
  std::ostringstream os;
  while (duet::dump_tasks(rt, os) != 0) os.str("");
  CHECK(os.str().rfind("0 live tasks", 0) == 0);
}

namespace {
/// Parks (holding its worker) until the latch opens: the worker is busy.
struct HoldWorker {
  std::atomic<bool>* open;
  std::atomic<bool>* holding;
  duet::Poll<void> poll(duet::Context&) {
    holding->store(true);
    while (!open->load()) std::this_thread::yield();
    return duet::ready();
  }
};
}  // namespace

TEST_CASE("dump_tasks with list_all_tasks lists a queued task that never ran", "[dump]") {
  duet::test::Watchdog wd("dump_tasks list_all_tasks");
  duet::Runtime rt({.workers = 1, .list_all_tasks = true});
  std::atomic<bool> open{false}, holding{false};
  auto blocker = rt.spawn(HoldWorker{&open, &holding});
  while (!holding.load()) std::this_thread::yield();
  auto queued = rt.spawn(value(7));  // behind the blocker: never run yet

  std::ostringstream os;
  CHECK(duet::dump_tasks(rt, os) == 2);
  const std::string out = os.str();
  INFO(out);
  CHECK(lines_starting_with(out, "task ") == 2);
  CHECK(out.find("coroutine ready") != std::string::npos);  // the queued one
  CHECK(out.find("poll running") != std::string::npos);     // the blocker
  CHECK(out.find("2 live tasks, all above") != std::string::npos);

  open = true;
  blocker.join();
  CHECK(queued.join() == 7);
  std::ostringstream after;
  while (duet::dump_tasks(rt, after) != 0) after.str("");
  CHECK(after.str() == "0 live tasks, all above\n");
}

TEST_CASE("list_all_tasks: parked, cancelled and shut-down tasks leave the list", "[dump]") {
  duet::test::Watchdog wd("list_all_tasks shutdown");
  Gate gate;
  std::vector<duet::JoinHandle<void>> parked;
  {
    duet::Runtime rt({.workers = 2, .list_all_tasks = true});
    for (int i = 0; i < 4; ++i) parked.push_back(rt.spawn(parks_on(gate)));
    while (gate.waiters() < 4) std::this_thread::yield();
    parked[0].cancel();
    for (int round = 0; round < 5; ++round) {
      rt.block_on([](duet::Runtime&) -> duet::Task<void> {
        std::vector<duet::JoinHandle<int>> hs;
        for (int i = 0; i < 200; ++i) hs.push_back(duet::spawn(value(i)));
        for (auto& h : hs) (void)co_await h;
      }(rt));
    }
    std::ostringstream os;
    while (duet::dump_tasks(rt, os) != 3) os.str("");
    CHECK(lines_starting_with(os.str(), "task ") == 3);
  }  // shutdown cancels the three still parked
  for (std::size_t i = 1; i < parked.size(); ++i) {
    CHECK_THROWS_AS(parked[i].join(), duet::Cancelled);
  }
}

namespace {
// Three coroutines awaiting one another; the leaf parks on a gate. Each
// has its own name for the async backtrace to find.
duet::Task<void> chain_leaf(Gate& g) {
  co_await GateWait{&g};
}
duet::Task<void> chain_middle(Gate& g) {
  co_await chain_leaf(g);
}
duet::Task<void> chain_root(Gate& g) {
  co_await chain_middle(g);
}

/// One side of a ping-pong pair that parks on each turn, until `stop`;
/// then it tells the other side (`over`) and ends.
duet::Task<void> pinger(duet::Notify& mine, duet::Notify& theirs, std::atomic<bool>& stop,
                        std::atomic<bool>& over) {
  while (!stop.load()) {
    theirs.notify_one();
    co_await mine.notified();
  }
  over = true;
  theirs.notify_one();
}
duet::Task<void> ponger(duet::Notify& mine, duet::Notify& theirs, std::atomic<bool>& over) {
  for (;;) {
    co_await mine.notified();
    if (over.load()) co_return;
    theirs.notify_one();
  }
}
}  // namespace

TEST_CASE("dump_tasks: a parked coroutine's async backtrace names its chain and what it waits in",
          "[dump]") {
  duet::test::Watchdog wd("async backtrace");
  duet::Runtime rt({.workers = 2});
  Gate gate;
  auto h = rt.spawn(chain_root(gate));
  // The gate's waiter is queued inside the task's poll, and the task is
  // listed as parked once that poll has returned: wait for the dump to see
  // it parked (until then it counts it as not parked yet).
  while (gate.waiters() < 1) std::this_thread::yield();
  std::string out;
  for (;;) {
    std::ostringstream os;
    const std::size_t n = duet::dump_tasks(rt, os);
    out = os.str();
    if (n == 1 && out.find("coroutine parked") != std::string::npos) break;
    std::this_thread::yield();
  }
  INFO(out);
  const auto head = out.find("coroutine parked");
  const auto waits = out.find("\n  waits in (anonymous namespace)::GateWait\n");
  const auto leaf =
      out.find("\n  #0 (anonymous namespace)::chain_leaf((anonymous namespace)::Gate&)\n");
  const auto middle = out.find("\n  #1 (anonymous namespace)::chain_middle(");
  const auto root = out.find("\n  #2 (anonymous namespace)::chain_root(");
  REQUIRE(head != std::string::npos);
  CHECK(waits != std::string::npos);
  CHECK(leaf != std::string::npos);
  CHECK(middle != std::string::npos);
  CHECK(root != std::string::npos);
  CHECK((head < waits && waits < leaf && leaf < middle && middle < root));
  CHECK(out.find("  #3") == std::string::npos);

  // The dump's hold let it go parked: the gate's wake still runs it.
  gate.release();
  h.join();
}

TEST_CASE("dump_tasks: wakes that race the dump's hold are never lost", "[dump][stress]") {
  // Ping-pong pairs park and wake each other while another thread dumps
  // without pause: a wake that finds a task held by the dump must queue it
  // when the dump lets go, or a pair stops (the watchdog fails the test).
  duet::test::Watchdog wd("dump racing wakes");
  duet::Runtime rt({.workers = 2});
  constexpr int kPairs = 4;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<duet::Notify>> ns;
  std::vector<std::unique_ptr<std::atomic<bool>>> overs;
  std::vector<duet::JoinHandle<void>> hs;
  for (int p = 0; p < kPairs; ++p) {
    ns.push_back(std::make_unique<duet::Notify>());
    ns.push_back(std::make_unique<duet::Notify>());
    overs.push_back(std::make_unique<std::atomic<bool>>(false));
    duet::Notify& a = *ns[ns.size() - 2];
    duet::Notify& b = *ns.back();
    hs.push_back(rt.spawn(pinger(a, b, stop, *overs.back())));
    hs.push_back(rt.spawn(ponger(b, a, *overs.back())));
  }
  // Until enough dumps found parked tasks to hold (the watchdog bounds it).
  std::size_t dumps = 0, chains = 0;
  std::ostringstream os;
  while (dumps < 300 || chains < 50) {
    os.str("");
    (void)duet::dump_tasks(rt, os);
    ++dumps;
    if (os.str().find("\n  #0 ") != std::string::npos) ++chains;
  }
  stop = true;
  for (auto& h : hs) h.join();
  INFO("dumps " << dumps << ", with a backtrace " << chains);
  CHECK(chains >= 50);
}

TEST_CASE("dump_tasks: a parked task's worker and how long it has been parked", "[dump]") {
  // A manual test clock (docs/time.md): the park is stamped with the
  // worker's clock, and the dump reads the same clock, which moves only
  // when the test advances it.
  duet::test::Watchdog wd("dump: park stamps");
  duet::Runtime rt({.workers = 1, .clock = duet::ClockMode::manual});
  Gate gate;
  auto h = rt.spawn(parks_on(gate));
  auto f = rt.spawn(duet::stackful, [&gate] { duet::wait(GateWait{&gate}); });
  while (gate.waiters() < 2) std::this_thread::yield();
  // Each waiter is queued inside its task's poll, and the task is listed
  // (its park stamped) once that poll has returned: wait for both to be
  // listed before the clock moves.
  for (;;) {
    std::ostringstream listed;
    (void)duet::dump_tasks(rt, listed);
    if (lines_starting_with(listed.str(), "task ") == 2) break;
    std::this_thread::yield();
  }
  rt.advance(std::chrono::seconds(42));

  std::ostringstream os;
  CHECK(duet::dump_tasks(rt, os) == 2);
  const std::string out = os.str();
  INFO(out);
  CHECK(lines_starting_with(out, "task ") == 2);
  std::size_t stamped = 0;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("task ", 0) != 0) continue;
    CHECK(line.find(" parked ") != std::string::npos);
    // 42 s of the manual clock, give or take the worker's coarse tick.
    const bool ok = line.find(" worker=0 parked_for=42s") != std::string::npos ||
                    line.find(" worker=0 parked_for=41s") != std::string::npos;
    CHECK(ok);
    stamped += ok ? 1 : 0;
  }
  CHECK(stamped == 2);
  gate.release();
  h.join();
  f.join();
}

TEST_CASE("dump_tasks names what a parked poll task and a parked fiber run", "[dump]") {
  duet::test::Watchdog wd("dump_tasks names");
  duet::Runtime rt({.workers = 1});
  std::atomic<int> parked{0};
  auto poll_task = rt.spawn(duet::test::note_pending(duet::test::Never{}, &parked));
  duet::Notify never;
  auto fiber = rt.spawn(duet::stackful,
                        [&] { duet::wait(duet::test::note_pending(never.notified(), &parked)); });
  while (parked.load() < 2) std::this_thread::yield();
  // A pending poll comes just before its task parks (and is listed): dump
  // until both are listed.
  std::string out;
  for (;;) {
    std::ostringstream os;
    duet::dump_tasks(rt, os);
    out = os.str();
    if (lines_starting_with(out, "task ") == 2) break;
    std::this_thread::yield();
  }
  INFO(out);
  std::istringstream lines(out);
  int poll_lines = 0, fiber_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("task ", 0) != 0) continue;
    if (line.find(" poll ") != std::string::npos) {
      ++poll_lines;
      CHECK(line.find(" runs ") != std::string::npos);
      CHECK(line.find("Never") != std::string::npos);  // the future's type
    }
    if (line.find(" fiber ") != std::string::npos) {
      ++fiber_lines;
      CHECK(line.find(" runs ") != std::string::npos);
      CHECK(line.find("lambda") != std::string::npos);  // the fiber's function
    }
  }
  CHECK(poll_lines == 1);
  CHECK(fiber_lines == 1);

  poll_task.cancel();
  fiber.cancel();
  CHECK_THROWS_AS(poll_task.join(), duet::Cancelled);
  CHECK_THROWS_AS(fiber.join(), duet::Cancelled);
}

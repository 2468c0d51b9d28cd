// lab_duet: duet as one "peer" among the others. The same five tests, with
// the same definitions, as every program under experiments/peers/:
//
//   rss N         spawn N tasks that park on one gate; RSS growth per task
//                 once all are parked (M1, M2, M4, M5). 1 worker.
//   spawn_seq N   from inside a task: spawn a child and await it, N times;
//                 time per op, warm (after a first pass of N), timed inside
//                 the task (S5). 1 worker.
//   spawn_conc N  from inside a task: spawn N children, then await them all;
//                 total time: first pass (cold: fresh process) and second
//                 pass (warm), and the first over the second (S6). All
//                 workers.
//   spawn_inc N   from inside a task: spawn N children that each increment a
//                 shared atomic, keep the N handles, join all; total times
//                 and their ratio as spawn_conc's (S7). All workers.
//   yield N       two tasks on one worker yield to each other, N yields in
//                 all; time per yield (S3). 1 worker.
//   scope_rss N   N stackless children parked on one gate, held either by a
//                 duet::TaskScope (--holder scope) or by their JoinHandles in
//                 a reserved vector (--holder handles); RSS growth once all
//                 are parked. The slope over N of the two, side by side, is
//                 what a scope costs per child over its handle (issue 36:
//                 at most 16 B). 1 worker. Not a shared peer test.
//
//   exp_lab_duet TEST N [--backend stackless|poll|fiber] [--workers W]
//                       [--holder scope|handles]
//
// Backends: stackless = duet::Task<T> coroutines; poll = hand-written poll
// futures spawned as tasks (no frame); fiber = duet::stackful with the
// runtime's default stack strategy. Workers are pinned (Placement::compact).
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "lab_gate.hpp"

namespace {

std::string backend = "stackless";
unsigned workers_all = 0;

// The runtime's default stack strategy and size; the stack strategies
// themselves are compared by the stackful_* experiments.
constexpr auto fiber_opts() {
  return duet::stackful;
}
bool is_fiber() {
  return backend.rfind("fiber", 0) == 0;
}

duet::Runtime make_rt(unsigned workers) {
  return duet::Runtime({.workers = workers, .placement = duet::Placement::compact});
}
std::string method(const std::string& what, unsigned workers) {
  return what + ", " + std::to_string(workers) + " worker(s) pinned compact, steady_clock";
}
std::string impl() {
  return "duet-" + backend;
}

// ---- rss ---------------------------------------------------------------

std::atomic<long> finished{0};

duet::Task<void> parked_task(lab::Gate* g) {
  co_await lab::GateWait(g);
  finished.fetch_add(1, std::memory_order_relaxed);
}

struct ParkedPoll {  // a poll future: park, then count
  lab::GateWait w;
  explicit ParkedPoll(lab::Gate* g) : w(g) {}
  duet::Poll<void> poll(duet::Context& cx) {
    if (w.poll(cx).is_pending()) return duet::pending;
    finished.fetch_add(1, std::memory_order_relaxed);
    return duet::ready();
  }
};

void spawn_parked(duet::Runtime& rt, lab::Gate* g) {
  if (backend == "stackless") {
    rt.spawn(parked_task(g)).detach();
  } else if (backend == "poll") {
    rt.spawn(ParkedPoll(g)).detach();
  } else {
    rt.spawn(fiber_opts(), [g] {
        duet::wait(lab::GateWait(g));
        finished.fetch_add(1, std::memory_order_relaxed);
      }).detach();
  }
}

/// The first spawns map the runtime's per-thread caches: 64 parked and
/// released before an RSS reading starts.
void warm_up(duet::Runtime& rt) {
  lab::Gate warm;
  for (int i = 0; i < 64; ++i) spawn_parked(rt, &warm);
  warm.wait_parked(64);
  warm.open();
  while (finished.load() < 64) std::this_thread::sleep_for(std::chrono::microseconds(100));
  finished = 0;
}

int test_rss(long n) {
  auto rt = make_rt(1);
  warm_up(rt);
  lab::Gate gate;
  long long rss0 = lab::rss_bytes(), vm0 = lab::vm_bytes();
  auto t0 = lab::Clock::now();
  for (long i = 0; i < n; ++i) spawn_parked(rt, &gate);
  gate.wait_parked(n);
  double park_ns = lab::ns_since(t0);
  long long rss1 = lab::rss_bytes(), vm1 = lab::vm_bytes();
  gate.open();
  while (finished.load() < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
  std::string m = "RSS (/proc/self/statm) after all N parked minus before, 1 worker";
  lab::emit("rss", impl(), "rss_per_task", double(rss1 - rss0) / double(n), "B", n, m);
  lab::emit("rss", impl(), "rss_delta", double(rss1 - rss0), "B", n, m);
  lab::emit("rss", impl(), "vm_per_task", double(vm1 - vm0) / double(n), "B", n,
            "virtual size (/proc/self/statm) growth per task");
  lab::emit("rss", impl(), "spawn_park_time", park_ns / double(n), "ns", n,
            "time to spawn N and see all parked, per task (cold)");
  return 0;
}

// ---- scope_rss -----------------------------------------------------------

int test_scope_rss(long n, const std::string& holder) {
  if (holder != "scope" && holder != "handles") {
    std::fprintf(stderr, "scope_rss: --holder scope|handles, not %s\n", holder.c_str());
    return 2;
  }
  auto rt = make_rt(1);
  warm_up(rt);
  lab::Gate gate;
  std::vector<duet::JoinHandle<void>> handles;
  if (holder == "handles") handles.reserve(static_cast<std::size_t>(n));  // untouched until used
  duet::TaskScope<void> scope(rt);
  long long rss0 = lab::rss_bytes();
  for (long i = 0; i < n; ++i) {
    if (holder == "scope") {
      scope.spawn(parked_task(&gate));
    } else {
      handles.push_back(rt.spawn(parked_task(&gate)));
    }
  }
  gate.wait_parked(n);
  long long rss1 = lab::rss_bytes();
  gate.open();
  if (holder == "scope") {
    duet::wait(scope.join());
  } else {
    for (auto& h : handles) h.join();
  }
  const std::string impl = "duet-" + holder;
  std::string m =
      "RSS (/proc/self/statm) after N stackless children parked minus before, held by " +
      (holder == "scope" ? std::string("one TaskScope") : std::string("N JoinHandles")) +
      ", 1 worker";
  lab::emit("scope_rss", impl, "rss_delta", double(rss1 - rss0), "B", n, m);
  lab::emit("scope_rss", impl, "rss_per_child", double(rss1 - rss0) / double(n), "B", n, m);
  return 0;
}

// ---- spawn_seq ----------------------------------------------------------

duet::Task<long> child(long i) {
  co_return i + 1;
}

struct ReadyPoll {  // a poll future that is ready at once
  long v;
  duet::Poll<long> poll(duet::Context&) { return v + 1; }
};

// The backend is chosen once, outside the timed loop (a string compare per
// op was part of every spawn+await measured before). The clock runs inside
// the root task, around the loop alone, as in every peer's program (Go's
// main goroutine, Tokio's and Node.js's tasks): timed from the main thread,
// the root task's own spawn and join (a cross-thread wake each way, tens of
// microseconds on a VM) were charged to the N operations.
struct SeqPass {
  long sum = 0;
  double ns = 0;
};

duet::Task<SeqPass> seq_root_stackless(long n) {
  const auto t0 = lab::Clock::now();
  long s = 0;
  for (long i = 0; i < n; ++i) s += co_await duet::spawn(child(i));
  co_return SeqPass{s, lab::ns_since(t0)};
}

duet::Task<SeqPass> seq_root_poll(long n) {
  const auto t0 = lab::Clock::now();
  long s = 0;
  for (long i = 0; i < n; ++i) s += co_await duet::spawn(ReadyPoll{i});
  co_return SeqPass{s, lab::ns_since(t0)};
}

SeqPass seq_fiber(long n) {
  const auto t0 = lab::Clock::now();
  long s = 0;
  for (long i = 0; i < n; ++i) s += duet::spawn(fiber_opts(), [i] { return i + 1; }).join();
  return SeqPass{s, lab::ns_since(t0)};
}

int test_spawn_seq(long n) {
  auto rt = make_rt(1);
  auto run = [&] {
    if (is_fiber()) return rt.spawn(duet::stackful, [n] { return seq_fiber(n); }).join();
    return rt.spawn(backend == "poll" ? seq_root_poll(n) : seq_root_stackless(n)).join();
  };
  const SeqPass cold = run();
  const SeqPass warm = run();
  if (cold.sum != n * (n + 1) / 2 || warm.sum != cold.sum) std::fprintf(stderr, "bad sum\n");
  lab::emit("spawn_seq", impl(), "time_per_op", warm.ns / double(n), "ns", n,
            method("spawn+await from inside a task, timed inside it, warm (second pass)", 1));
  lab::emit("spawn_seq", impl(), "time_per_op_cold", cold.ns / double(n), "ns", n,
            method("spawn+await from inside a task, timed inside it, cold (first pass, fresh "
                   "process)",
                   1));
  return 0;
}

// ---- spawn_conc / spawn_inc --------------------------------------------

std::atomic<long> counter{0};

duet::Task<void> inc_task() {
  counter.fetch_add(1, std::memory_order_relaxed);
  co_return;
}
struct IncPoll {
  duet::Poll<void> poll(duet::Context&) {
    counter.fetch_add(1, std::memory_order_relaxed);
    return duet::ready();
  }
};

duet::Task<void> conc_root_stackless(long n) {
  std::vector<duet::JoinHandle<void>> hs;
  hs.reserve(n);
  const bool poll = backend == "poll";  // decided once, outside the timed loop
  for (long i = 0; i < n; ++i) {
    if (poll) {
      hs.push_back(duet::spawn(IncPoll{}));
    } else {
      hs.push_back(duet::spawn(inc_task()));
    }
  }
  for (auto& h : hs) co_await h;
}
void conc_fiber(long n) {
  std::vector<duet::JoinHandle<void>> hs;
  hs.reserve(n);
  for (long i = 0; i < n; ++i)
    hs.push_back(
        duet::spawn(fiber_opts(), [] { counter.fetch_add(1, std::memory_order_relaxed); }));
  for (auto& h : hs) h.join();
}

int test_conc(const char* name, long n) {
  unsigned w = workers_all;
  auto rt = make_rt(w);
  auto run = [&] {
    counter = 0;
    auto t0 = lab::Clock::now();
    if (is_fiber()) {
      rt.spawn(duet::stackful, [n] { conc_fiber(n); }).join();
    } else {
      rt.spawn(conc_root_stackless(n)).join();
    }
    double ms = lab::ns_since(t0) / 1e6;
    if (counter.load() != n) std::fprintf(stderr, "bad count %ld\n", counter.load());
    return ms;
  };
  double cold = run();
  double warm = run();
  std::string what =
      std::string(name) == "spawn_inc"
          ? "spawn N (each increments an atomic), keep handles, join all, from inside a task"
          : "spawn N then await all, from inside a task";
  lab::emit(name, impl(), "total_time", cold, "ms", n, method(what + ", first pass (cold)", w));
  lab::emit(name, impl(), "total_time_warm", warm, "ms", n,
            method(what + ", second pass (warm)", w));
  lab::emit(name, impl(), "cold_over_warm", cold / warm, "x", n,
            "ratio of the first pass's time to the second's, in the same process");
  return 0;
}

// ---- yield --------------------------------------------------------------

duet::Task<void> yielder(long k) {
  for (long i = 0; i < k; ++i) co_await duet::yield_now();
}
struct YieldPoll {  // pending k times (waking itself), then ready
  long left;
  duet::Poll<void> poll(duet::Context& cx) {
    if (left-- <= 0) return duet::ready();
    cx.waker().wake_by_ref();
    return duet::pending;
  }
};

int test_yield(long n) {
  auto rt = make_rt(1);
  long k = n / 2;
  auto once = [&](long kk) {
    auto t0 = lab::Clock::now();
    if (backend == "stackless") {
      auto a = rt.spawn(yielder(kk));
      auto b = rt.spawn(yielder(kk));
      a.join();
      b.join();
    } else if (backend == "poll") {
      auto a = rt.spawn(YieldPoll{kk});
      auto b = rt.spawn(YieldPoll{kk});
      a.join();
      b.join();
    } else {
      auto body = [kk] {
        for (long i = 0; i < kk; ++i) duet::this_fiber::yield();
      };
      auto a = rt.spawn(fiber_opts(), body);
      auto b = rt.spawn(fiber_opts(), body);
      a.join();
      b.join();
    }
    return lab::ns_since(t0);
  };
  once(k / 10 + 1);  // warm up
  double ns = once(k);
  lab::emit("yield", impl(), "time_per_yield", ns / double(2 * k), "ns", n,
            method("two tasks yield to each other through the scheduler", 1));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  if (args.pos.size() < 2) {
    std::fprintf(stderr,
                 "usage: %s rss|spawn_seq|spawn_conc|spawn_inc|yield|scope_rss N [--backend B] "
                 "[--workers W] "
                 "[--holder scope|handles]\n",
                 argv[0]);
    return 2;
  }
  backend = args.get("backend", "stackless");
  workers_all = static_cast<unsigned>(args.num("workers", duet::Topology::machine().pus()));
  std::string test = args.pos[0];
  long n = std::atol(args.pos[1].c_str());
  try {
    if (test == "rss") return test_rss(n);
    if (test == "spawn_seq") return test_spawn_seq(n);
    if (test == "spawn_conc" || test == "spawn_inc") return test_conc(test.c_str(), n);
    if (test == "yield") return test_yield(n);
    if (test == "scope_rss") return test_scope_rss(n, args.get("holder", "scope"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lab_duet %s %ld (%s): %s\n", test.c_str(), n, backend.c_str(), e.what());
    return 3;
  }
  std::fprintf(stderr, "unknown test %s\n", test.c_str());
  return 2;
}

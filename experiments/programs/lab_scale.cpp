// lab_scale: how the scheduler scales with workers (claim R3, issue 15). One
// process per (workers, placement, backend); experiments/lab/scaling.py runs
// the sweep (1, 2, 4, 8, 16 workers x placements), the same tests in the Go
// and Tokio peers (`scale` in experiments/peers/{go,tokio}), and writes
// reports/scaling.md. Every test is timed warm: one pass to fill the pools,
// then `--reps` passes, of which the median is printed (the sweep repeats the
// process for min and max).
//
//   spawn_all N    one task spawns N children (each increments a shared
//                  atomic), keeps the handles, joins all: the S6/S7 shape. One
//                  spawner, so the rate is bounded by one worker's spawn loop.
//   spawn_tree N   one task spawns 64 spawners; each spawns N/64 children
//                  (each increments its spawner's own counter) in batches of
//                  256, joining each batch before the next: spawning from
//                  every worker with at most 16K tasks alive (all N alive at
//                  once would measure first-touch memory, not the scheduler),
//                  the throughput test.
//   work M         one task spawns M CPU-bound children of ~2 us each
//                  (calibrated spin) and joins them: steal efficiency.
//   pingpong R     W pairs of tasks, each pair bouncing a token R times over
//                  two bounded(1) channels: wake-up cost across workers.
//   yield K        2W tasks each yield K times: the yield path under load.
//
// With each timing: steals, parks and polls per task from rt.stats() (a park
// ends in a wake-up, so parks count the wake-ups that reached a sleeping
// worker too).
//
//   exp_lab_scale all --workers W --placement compact|scatter|one_per_core|none
//                 [--backend stackless|fiber] [--n N] [--tree N] [--work M]
//                 [--rounds R] [--yields K] [--reps K] [--only scale_TEST]
//   exp_lab_scale cpus --workers W --placement P   the CPUs duet would pin
//   exp_lab_scale probe                            hardware counters, topology
#include <linux/perf_event.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lab_gate.hpp"

namespace {

std::string backend = "stackless";
bool fiber() {
  return backend == "fiber";
}

// ---- the tests, one root task each -----------------------------------------

struct alignas(64) Counter {
  std::atomic<long> v{0};
};
Counter shared_counter;

duet::Task<void> inc(Counter* c) {
  c->v.fetch_add(1, std::memory_order_relaxed);
  co_return;
}
duet::Task<void> burn() {
  lab::spin(2 * lab::spins_per_us);
  co_return;
}

/// Spawns `n` children built by `child` (stackless or fiber) and joins all.
template <class Coro, class Fn>
duet::Task<void> fan_out(long n, Coro coro, Fn fn) {
  std::vector<duet::JoinHandle<void>> hs;
  hs.reserve(std::size_t(n));
  for (long i = 0; i < n; ++i) {
    if (fiber()) {
      hs.push_back(duet::spawn(duet::stackful, fn));
    } else {
      hs.push_back(duet::spawn(coro()));
    }
  }
  for (auto& h : hs) co_await h;
}

duet::Task<void> spawn_all(long n) {
  Counter* c = &shared_counter;
  co_await fan_out(
      n, [c] { return inc(c); }, [c] { c->v.fetch_add(1, std::memory_order_relaxed); });
}

constexpr long kSpawners = 64;
constexpr long kBatch = 256;
duet::Task<void> spawner(long n) {
  auto c = std::make_unique<Counter>();
  Counter* p = c.get();
  for (long done = 0; done < n; done += kBatch) {
    co_await fan_out(
        std::min(kBatch, n - done), [p] { return inc(p); },
        [p] { p->v.fetch_add(1, std::memory_order_relaxed); });
  }
}
duet::Task<void> spawn_tree(long n) {
  std::vector<duet::JoinHandle<void>> hs;
  for (long i = 0; i < kSpawners; ++i) hs.push_back(duet::spawn(spawner(n / kSpawners)));
  for (auto& h : hs) co_await h;
}

duet::Task<void> work(long m) {
  co_await fan_out(
      m, [] { return burn(); }, [] { lab::spin(2 * lab::spins_per_us); });
}

using Chan = duet::Channel<int>;
duet::Task<void> bounce_coro(Chan in, Chan out, long rounds, bool first) {
  if (first) (void)co_await out.send(0);
  for (long i = 0; i < rounds; ++i) {
    auto v = co_await in.recv();
    if (!v) co_return;
    if (!first || i + 1 < rounds) (void)co_await out.send(*v + 1);
  }
}
void bounce_fiber(Chan in, Chan out, long rounds, bool first) {
  if (first) (void)duet::wait(out.send(0));
  for (long i = 0; i < rounds; ++i) {
    auto v = duet::wait(in.recv());
    if (!v) return;
    if (!first || i + 1 < rounds) (void)duet::wait(out.send(*v + 1));
  }
}
duet::Task<void> pingpong(unsigned pairs, long rounds) {
  std::vector<duet::JoinHandle<void>> hs;
  for (unsigned p = 0; p < pairs; ++p) {
    auto a = Chan::bounded(1);
    auto b = Chan::bounded(1);
    if (fiber()) {
      hs.push_back(
          duet::spawn(duet::stackful, [a, b, rounds] { bounce_fiber(a, b, rounds, true); }));
      hs.push_back(
          duet::spawn(duet::stackful, [a, b, rounds] { bounce_fiber(b, a, rounds, false); }));
    } else {
      hs.push_back(duet::spawn(bounce_coro(a, b, rounds, true)));
      hs.push_back(duet::spawn(bounce_coro(b, a, rounds, false)));
    }
  }
  for (auto& h : hs) co_await h;
}

duet::Task<void> yielder(long k) {
  for (long i = 0; i < k; ++i) co_await duet::yield_now();
}
duet::Task<void> yield_all(unsigned tasks, long k) {
  std::vector<duet::JoinHandle<void>> hs;
  for (unsigned t = 0; t < tasks; ++t) {
    if (fiber()) {
      hs.push_back(duet::spawn(duet::stackful, [k] {
        for (long i = 0; i < k; ++i) duet::this_fiber::yield();
      }));
    } else {
      hs.push_back(duet::spawn(yielder(k)));
    }
  }
  for (auto& h : hs) co_await h;
}

// ---- timing and counters ---------------------------------------------------

struct Totals {
  std::uint64_t steals = 0, parks = 0, polls = 0, overflows = 0, injector_pops = 0;
  Totals operator-(const Totals& o) const {
    return {steals - o.steals, parks - o.parks, polls - o.polls, overflows - o.overflows,
            injector_pops - o.injector_pops};
  }
};
Totals totals(const duet::Runtime& rt) {
  Totals t;
  for (const auto& s : rt.stats()) {
    t.steals += s.steals;
    t.parks += s.parks;
    t.polls += s.polls;
    t.overflows += s.overflows;
    t.injector_pops += s.injector_pops;
  }
  return t;
}

struct Sweep {
  duet::Runtime& rt;
  unsigned workers;
  std::string placement;
  int reps;

  std::string impl() const {
    return "duet-" + backend + "/w" + std::to_string(workers) + "/" + placement;
  }
  std::string method(const std::string& what) const {
    return what + "; " + std::to_string(workers) + " worker(s) pinned " + placement +
           "; median of " + std::to_string(reps) + " warm passes, steady_clock";
  }

  /// Runs `root()` once to warm, then `reps` times; emits the median time
  /// and the scheduler counters per task of the median pass.
  std::string only;  // --only TEST: run that test alone

  void run(const char* exp, long tasks, const std::function<duet::Task<void>()>& root,
           const std::string& what) {
    if (!only.empty() && only != exp) return;
    rt.spawn(root()).join();
    std::vector<std::pair<double, Totals>> passes;
    for (int r = 0; r < reps; ++r) {
      Totals a = totals(rt);
      auto t0 = lab::Clock::now();
      rt.spawn(root()).join();
      double ns = lab::ns_since(t0);
      Totals b = totals(rt);
      passes.push_back({ns, b - a});
    }
    std::sort(passes.begin(), passes.end(), [](auto& x, auto& y) { return x.first < y.first; });
    auto [ns, d] = passes[passes.size() / 2];
    const double n = double(tasks);
    lab::emit(exp, impl(), "total_time", ns / 1e6, "ms", tasks, method(what));
    lab::emit(exp, impl(), "throughput", n / (ns / 1e9), "ops/s", tasks, method(what));
    lab::emit(exp, impl(), "steals_per_task", double(d.steals) / n, "steals", tasks,
              method(what + "; rt.stats() steals / tasks"));
    lab::emit(exp, impl(), "parks_per_task", double(d.parks) / n, "parks", tasks,
              method(what + "; rt.stats() parks / tasks (each park ends in a wake-up)"));
    lab::emit(exp, impl(), "polls_per_task", double(d.polls) / n, "polls", tasks,
              method(what + "; rt.stats() polls / tasks"));
    lab::emit(
        exp, impl(), "overflows_per_task", double(d.overflows) / n, "overflows", tasks,
        method(what + "; rt.stats() local-ring overflows (half the ring to the injector) / tasks"));
    lab::emit(exp, impl(), "injector_pops_per_task", double(d.injector_pops) / n, "tasks", tasks,
              method(what + "; rt.stats() tasks taken from the injector / tasks"));
  }
};

duet::Placement placement_of(const std::string& s) {
  if (s == "scatter") return duet::Placement::scatter;
  if (s == "one_per_core") return duet::Placement::one_per_core;
  if (s == "none") return duet::Placement::none;
  return duet::Placement::compact;
}

int all(const lab::Args& args) {
  const unsigned w = static_cast<unsigned>(args.num("workers", 1));
  const std::string pl = args.get("placement", "compact");
  const long n = args.num("n", 100000);
  const long tree = args.num("tree", 1000000);
  const long m = args.num("work", 50000);
  const long rounds = args.num("rounds", 20000);
  const long yields = args.num("yields", 100000);
  lab::calibrate_spin();
  duet::RuntimeConfig cfg;
  cfg.workers = w;
  cfg.placement = placement_of(pl);
  cfg.io_driver = duet::IoDriver::none;  // the scheduler alone, as bench_sched
  duet::Runtime rt(cfg);
  Sweep s{rt, w, pl, static_cast<int>(args.num("reps", 5)), args.get("only", "")};
  s.run(
      "scale_spawn_all", n, [n] { return spawn_all(n); },
      "one task spawns N children (each increments a shared atomic) and joins all");
  s.run(
      "scale_spawn_tree", tree, [tree] { return spawn_tree(tree); },
      "one task spawns 64 spawners, each spawns N/64 children (own counter) in batches of 256, "
      "joining each batch");
  s.run(
      "scale_work", m, [m] { return work(m); },
      "one task spawns M children of ~2 us of CPU (calibrated spin) and joins all");
  s.run(
      "scale_pingpong", long(w) * rounds, [w, rounds] { return pingpong(w, rounds); },
      "W pairs bounce a token over two bounded(1) channels, R round trips each; N = W*R");
  s.run(
      "scale_yield", 2L * w * yields, [w, yields] { return yield_all(2 * w, yields); },
      "2W tasks each yield K times; N = 2W*K yields");
  return 0;
}

int cpus(const lab::Args& args) {
  const auto w = static_cast<unsigned>(args.num("workers", 1));
  auto list = duet::Topology::machine().cpus_for(placement_of(args.get("placement", "compact")), w);
  std::string out;
  for (int c : list) out += (out.empty() ? "" : ",") + std::to_string(c);
  std::printf("%s\n", out.c_str());
  return 0;
}

/// Whether hardware counters can be opened (perf_event_open, instructions,
/// this thread); the errno when not.
int probe() {
  perf_event_attr a{};
  a.type = PERF_TYPE_HARDWARE;
  a.size = sizeof a;
  a.config = PERF_COUNT_HW_INSTRUCTIONS;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  const long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
  const int err = fd < 0 ? errno : 0;
  if (fd >= 0) close(static_cast<int>(fd));
  lab::emit("probe", "machine", "hw_counters", fd >= 0 ? 1 : 0, "bool", -1,
            fd >= 0 ? "perf_event_open(PERF_COUNT_HW_INSTRUCTIONS) opened"
                    : "perf_event_open(PERF_COUNT_HW_INSTRUCTIONS) failed: " +
                          std::string(std::strerror(err)));
  const auto& t = duet::Topology::machine();
  lab::emit("probe", "machine", "pus", t.pus(), "PUs", -1, t.describe());
  lab::emit("probe", "machine", "cores", t.cores(), "cores", -1, t.describe());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  if (args.pos.empty()) {
    std::fprintf(stderr, "usage: %s all|cpus|probe [--workers W] [--placement P] ...\n", argv[0]);
    return 2;
  }
  backend = args.get("backend", "stackless");
  try {
    if (args.pos[0] == "all") return all(args);
    if (args.pos[0] == "cpus") return cpus(args);
    if (args.pos[0] == "probe") return probe();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lab_scale %s (%s): %s\n", args.pos[0].c_str(), backend.c_str(), e.what());
    return 3;
  }
  std::fprintf(stderr, "unknown test %s\n", args.pos[0].c_str());
  return 2;
}

// lab_sched: the scheduler's policies against the claims R1-R4, each with the
// knob on and off (RuntimeConfig::tick_budget, lifo_cap, workers, placement).
//
//   budget  R1: one worker, two tasks that yield forever; tasks spawned from
//           outside (the injection queue) measure how long they wait for their
//           first poll, with tick_budget 128 and with the budget off (2^30).
//   lifo    R2: one worker; a ping-pong pair that wakes each other (the woken
//           task lands in the LIFO slot) beside a FIFO task that yields in a
//           loop; the FIFO task's longest wait between polls and the pair's
//           round trip, for lifo_cap 3, 0 (slot off) and 2^30 (no cap).
//   steal   R3: a root task spawns M CPU-bound tasks (~2 us each) and joins
//           them, on 1..all workers, placements compact and scatter; speedup,
//           efficiency and steals (rt.stats()).
//   waits   R4: heap allocations per wait (counting operator new) when a
//           coroutine and a fiber wait on a signal, in a steady state.
//
//   exp_lab_sched budget|lifo|steal|waits [--scale F]
#include <algorithm>
#include <alloc_tracker.hpp>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "lab_gate.hpp"

namespace {

double scale = 1.0;
long scaled(long base) {
  return std::max(10L, static_cast<long>(double(base) * scale));
}
constexpr std::uint32_t kOff = 1u << 30;

/// A one-shot, reusable wake-up: notify() makes the next (or the pending)
/// wait ready. The waiter's waker is stored in the signal: no allocation.
struct Signal {
  std::mutex m;
  bool set = false;
  duet::Waker w;
  void notify() {
    duet::Waker take;
    {
      std::lock_guard<std::mutex> lk(m);
      set = true;
      take = std::move(w);
    }
    if (take) std::move(take).wake();
  }
};
struct SignalWait {
  Signal* s;
  duet::Poll<void> poll(duet::Context& cx) {
    std::lock_guard<std::mutex> lk(s->m);
    if (s->set) {
      s->set = false;
      return duet::ready();
    }
    if (!s->w.will_wake(cx.waker())) s->w = cx.waker();
    return duet::pending;
  }
};

duet::RuntimeConfig one_worker() {
  duet::RuntimeConfig c;
  c.workers = 1;
  c.placement = duet::Placement::compact;
  return c;
}

// ---- R1: budget ----------------------------------------------------------

std::atomic<bool> stop{false};
duet::Task<void> hog() {
  while (!stop.load(std::memory_order_relaxed)) co_await duet::yield_now();
}

void budget() {
  long probes = scaled(200);
  for (std::uint32_t b : {128u, kOff}) {
    auto cfg = one_worker();
    cfg.tick_budget = b;
    duet::Runtime rt(cfg);
    stop = false;
    auto h1 = rt.spawn(hog());
    auto h2 = rt.spawn(hog());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::vector<double> lat;
    long starved = 0;
    for (long i = 0; i < probes; ++i) {
      std::atomic<long long> seen{-1};
      auto t0 = lab::Clock::now();
      auto p = rt.spawn(duet::stackful,
                        [&seen, t0] { seen = static_cast<long long>(lab::ns_since(t0)); });
      while (seen.load() < 0 && lab::ns_since(t0) < 200e6) std::this_thread::yield();
      if (seen.load() < 0) {
        starved = 1;
        stop = true;  // let the hogs end, so the probe runs and can be joined
        p.join();
        break;
      }
      lat.push_back(double(seen.load()) / 1e3);
      p.join();
    }
    stop = true;
    h1.join();
    h2.join();
    std::string impl = b == 128 ? "budget_128" : "budget_off";
    std::string m =
        "1 worker, 2 tasks yielding forever; a task spawned from outside: time to its first poll";
    lab::emit("sched_budget", impl, "starved", double(starved), "bool", probes,
              m + " (1: none ran within 200 ms)");
    if (!lat.empty()) {
      std::sort(lat.begin(), lat.end());
      lab::emit("sched_budget", impl, "latency_p50", lat[lat.size() / 2], "us", probes, m);
      lab::emit("sched_budget", impl, "latency_p99",
                lat[std::min(lat.size() - 1, lat.size() * 99 / 100)], "us", probes, m);
      lab::emit("sched_budget", impl, "latency_max", lat.back(), "us", probes, m);
    }
  }
}

// ---- R2: LIFO cap -----------------------------------------------------------

std::atomic<long> victim_polls{0};
std::atomic<long long> victim_max_gap{0};

duet::Task<void> victim() {
  auto last = lab::Clock::now();
  while (!stop.load(std::memory_order_relaxed)) {
    auto now = lab::Clock::now();
    long long gap = std::chrono::duration_cast<std::chrono::nanoseconds>(now - last).count();
    if (gap > victim_max_gap.load(std::memory_order_relaxed)) victim_max_gap = gap;
    last = now;
    victim_polls.fetch_add(1, std::memory_order_relaxed);
    co_await duet::yield_now();
  }
}
duet::Task<void> ping(Signal* mine, Signal* other, long rounds) {
  for (long i = 0; i < rounds; ++i) {
    other->notify();
    co_await SignalWait{mine};
  }
  stop = true;
  other->notify();
}
duet::Task<void> pong(Signal* mine, Signal* other) {
  while (!stop.load(std::memory_order_relaxed)) {
    co_await SignalWait{mine};
    other->notify();
  }
}

void lifo() {
  long rounds = scaled(100000);
  for (std::uint32_t cap : {3u, 0u, kOff}) {
    auto cfg = one_worker();
    cfg.lifo_cap = cap;
    duet::Runtime rt(cfg);
    stop = false;
    victim_polls = 0;
    victim_max_gap = 0;
    Signal a, b;
    auto v = rt.spawn(victim());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    auto t0 = lab::Clock::now();
    auto pb = rt.spawn(pong(&b, &a));
    auto pa = rt.spawn(ping(&a, &b, rounds));
    pa.join();
    double ns = lab::ns_since(t0);
    pb.join();
    v.join();
    std::string impl = cap == 3 ? "lifo_cap_3" : cap == 0 ? "lifo_off" : "lifo_uncapped";
    std::string m =
        "1 worker: a ping-pong pair (each wake lands in the LIFO slot) beside a task that yields "
        "in a loop";
    lab::emit("sched_lifo", impl, "round_trip", ns / double(rounds), "ns", rounds, m);
    lab::emit("sched_lifo", impl, "victim_max_gap", double(victim_max_gap.load()) / 1e3, "us",
              rounds, m + ": the yielding task's longest wait between two polls");
    lab::emit("sched_lifo", impl, "victim_polls_per_round",
              double(victim_polls.load()) / double(rounds), "polls", rounds,
              m + ": polls of the yielding task per ping-pong round");
  }
}

// ---- R3: steal efficiency ------------------------------------------------------

duet::Task<void> work() {
  lab::spin(2 * lab::spins_per_us);
  co_return;
}
duet::Task<void> fan(long m) {
  std::vector<duet::JoinHandle<void>> hs;
  hs.reserve(m);
  for (long i = 0; i < m; ++i) hs.push_back(duet::spawn(work()));
  for (auto& h : hs) co_await h;
}

void steal() {
  lab::calibrate_spin();
  long m = scaled(50000);
  unsigned pus = duet::Topology::machine().pus();
  for (auto [pl, name] : {std::pair{duet::Placement::compact, "compact"},
                          std::pair{duet::Placement::scatter, "scatter"}}) {
    double t1 = 0;
    for (unsigned w = 1; w <= pus; ++w) {
      duet::RuntimeConfig cfg;
      cfg.workers = w;
      cfg.placement = pl;
      duet::Runtime rt(cfg);
      rt.spawn(fan(m / 10)).join();  // warm
      auto s0 = rt.stats();
      auto t0 = lab::Clock::now();
      rt.spawn(fan(m)).join();
      double ms = lab::ns_since(t0) / 1e6;
      auto s1 = rt.stats();
      std::uint64_t steals = 0, stolen_from_attempts = 0;
      for (size_t i = 0; i < s1.size(); ++i) {
        steals += s1[i].steals - s0[i].steals;
        stolen_from_attempts += s1[i].steal_attempts - s0[i].steal_attempts;
      }
      if (w == 1) t1 = ms;
      std::string impl = std::string(name) + "_w" + std::to_string(w);
      std::string meth = std::to_string(w) + " worker(s), placement " + name +
                         ": a task spawns M tasks of ~2 us and joins them";
      lab::emit("sched_steal", impl, "total_time", ms, "ms", m, meth);
      lab::emit("sched_steal", impl, "speedup", t1 / ms, "x", m,
                meth + "; time on 1 worker / time on w");
      lab::emit("sched_steal", impl, "efficiency", t1 / ms / double(w), "ratio", m,
                meth + "; speedup / workers");
      lab::emit("sched_steal", impl, "steals", double(steals), "tasks", m,
                meth + "; tasks stolen (rt.stats())");
      lab::emit("sched_steal", impl, "steal_attempts", double(stolen_from_attempts), "tries", m,
                meth);
    }
  }
}

// ---- R4: allocations per wait ----------------------------------------------------

void waits() {
  long rounds = scaled(100000);
  duet::Runtime rt(one_worker());
  // coroutine <-> coroutine
  auto run_coro = [&] {
    stop = false;
    Signal a, b;
    auto pb = rt.spawn(pong(&b, &a));
    auto pa = rt.spawn(ping(&a, &b, rounds));
    pa.join();
    pb.join();
  };
  run_coro();
  auto c0 = duet::test::alloc_counts();
  run_coro();
  auto c1 = duet::test::alloc_counts();
  // Two spawns and two joins per run are not waits: subtract what a run with
  // no rounds costs.
  auto run_empty = [&] {
    stop = false;
    Signal a, b;
    auto pb = rt.spawn(pong(&b, &a));
    auto pa = rt.spawn(ping(&a, &b, 0));
    pa.join();
    pb.join();
  };
  auto e0 = duet::test::alloc_counts();
  run_empty();
  auto e1 = duet::test::alloc_counts();
  double per = double((c1.news - c0.news) - (e1.news - e0.news)) / double(2 * rounds);
  lab::emit("sched_waits", "duet-stackless", "allocs_per_wait", std::max(0.0, per), "allocs",
            rounds,
            "operator new calls per co_await of a signal (counting allocator), steady state");

  // fiber <-> fiber
  auto run_fiber = [&](long r) {
    Signal a, b;
    std::atomic<bool> done{false};
    auto fb = rt.spawn(duet::stackful, [&] {
      while (!done.load()) {
        duet::wait(SignalWait{&b});
        a.notify();
      }
    });
    auto fa = rt.spawn(duet::stackful, [&] {
      for (long i = 0; i < r; ++i) {
        b.notify();
        duet::wait(SignalWait{&a});
      }
      done = true;
      b.notify();
    });
    fa.join();
    fb.join();
  };
  run_fiber(rounds);
  c0 = duet::test::alloc_counts();
  run_fiber(rounds);
  c1 = duet::test::alloc_counts();
  e0 = duet::test::alloc_counts();
  run_fiber(0);
  e1 = duet::test::alloc_counts();
  per = double((c1.news - c0.news) - (e1.news - e0.news)) / double(2 * rounds);
  lab::emit("sched_waits", "duet-fiber", "allocs_per_wait", std::max(0.0, per), "allocs", rounds,
            "operator new calls per duet::wait on a signal from a fiber (counting allocator), "
            "steady state");
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  scale = std::atof(args.get("scale", "1").c_str());
  std::string t = args.pos.empty() ? "" : args.pos[0];
  if (t == "budget")
    budget();
  else if (t == "lifo")
    lifo();
  else if (t == "steal")
    steal();
  else if (t == "waits")
    waits();
  else {
    std::fprintf(stderr, "usage: %s budget|lifo|steal|waits [--scale F]\n", argv[0]);
    return 2;
  }
  return 0;
}

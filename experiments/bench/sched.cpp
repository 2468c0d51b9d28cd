// bench_sched: the scheduler's hot paths for both backends (issue 2), with
// the bare mechanisms beside them so that the report shows what the
// scheduler adds.
//
//   bare/resume          coroutine_handle::resume + suspend, no scheduler
//   bare/fcontext        jump_fcontext there and back, no scheduler
//   yield/<backend>      one task yields in a loop, alone on its worker (a
//                        yield with nothing else to run goes on in place)
//   yield_pair/<backend> two tasks yield in turn on one worker: one switch
//                        per yield (for fibers the direct hand-off, one
//                        jump; compare with bare/fcontext, two jumps)
//   pingpong/<backend>   two tasks wake each other in turn (one round trip =
//                        two wake-ups and two suspensions); both run the
//                        same function, as two instances of one coroutine do
//   pingpong_distinct/<backend> the same, each task running a function of
//                        its own (for fibers, a switch then resumes code the
//                        CPU's return predictions do not expect)
//   pingpong/mixed       a fiber and a coroutine wake each other: every
//                        switch of the fiber goes through the worker loop
//   spawn_join/<backend> from inside a task: spawn a trivial child, join it
//   scope_spawn_join/<backend> the same through a duet::TaskScope: spawn
//                        into the scope, take it with co_await scope.next()
//                        (issue 36: within 1.2x of spawn_join)
//   spawn_all/<backend>  from inside a task: spawn N children that each
//                        increment a counter, then join all (warm: the
//                        runtime and its pools are reused across iterations);
//                        from the second iteration on it also counts system
//                        calls, stack mapping calls and page faults per spawn
//   scope_all/<backend> spawn_all through a TaskScope: spawn N children
//                        into the scope, then co_await scope.join()
//   lifo_stuck/<backend> two workers: a task wakes another into its worker's
//                        LIFO slot, then spins (a long poll); time until the
//                        woken task runs on the idle worker (the watcher,
//                        RuntimeConfig::lifo_steal_after)
//   lifo_watch/<on>      two workers: one task spins in one poll with an
//                        empty slot; the CPU the rest of the process spends
//                        meanwhile (the watcher's timed wake-ups), with the
//                        watch off (0) and on (1)
//
// Every timing is measured inside the runtime (manual time), per operation;
// `allocs/op` counts global operator new calls per operation. Arguments:
// workers (1 or 2) and, for spawn_all, N. Workers are pinned one per core.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>

#include <alloc_tracker.hpp>
#include <atomic>
#include <boost/context/detail/fcontext.hpp>
#include <chrono>
#include <coroutine>
#include <cstdlib>
#include <duet/duet.hpp>
#include <sys_counter.hpp>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
namespace bc = boost::context::detail;

// The observability knobs, for measuring what each costs on the same
// binary (docs/observability.md): DUET_BENCH_LIST_ALL=1 sets
// RuntimeConfig::list_all_tasks, DUET_BENCH_STALL_MS=<n> the stall
// detector's threshold, DUET_BENCH_HISTOGRAMS=<n> the histograms' sample
// period (RuntimeConfig::histogram_sample_every).
duet::RuntimeConfig config(int workers) {
  duet::RuntimeConfig c;
  c.workers = static_cast<unsigned>(workers);
  c.io_driver = duet::IoDriver::none;  // the scheduler alone
  if (const char* e = std::getenv("DUET_BENCH_LIST_ALL")) c.list_all_tasks = *e == '1';
  if (const char* e = std::getenv("DUET_BENCH_STALL_MS")) {
    c.stall_threshold = std::chrono::milliseconds(std::atoi(e));
  }
  if (const char* e = std::getenv("DUET_BENCH_HISTOGRAMS")) {
    c.histogram_sample_every = static_cast<std::uint32_t>(std::atoi(e));
  }
  return c;
}

struct Result {
  double seconds = 0;
  std::int64_t allocs = 0;
};

void report(benchmark::State& st, double ops_per_iter, std::int64_t allocs) {
  st.counters["ns/op"] =
      benchmark::Counter(ops_per_iter * 1e-9 * double(st.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  st.counters["allocs/op"] = double(allocs) / (ops_per_iter * double(st.iterations()));
}

// ---- bare mechanisms ---------------------------------------------------------

struct Bare {
  struct promise_type {
    Bare get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() {}
  };
  std::coroutine_handle<promise_type> h;
};
Bare forever() {
  for (;;) co_await std::suspend_always{};
}

void BM_bare_resume(benchmark::State& st) {
  auto c = forever();
  for (auto _ : st) c.h.resume();
  c.h.destroy();
  st.counters["ns/op"] = benchmark::Counter(
      double(st.iterations()) * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_bare_resume)->Name("bare/resume");

void fctx_entry(bc::transfer_t t) {
  for (;;) t = bc::jump_fcontext(t.fctx, nullptr);
}
void BM_bare_fcontext(benchmark::State& st) {
  std::vector<char> stack(64 * 1024);
  bc::fcontext_t ctx = bc::make_fcontext(stack.data() + stack.size(), stack.size(), &fctx_entry);
  for (auto _ : st) ctx = bc::jump_fcontext(ctx, nullptr).fctx;  // there and back
  st.counters["ns/op"] = benchmark::Counter(
      double(st.iterations()) * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_bare_fcontext)->Name("bare/fcontext");

// ---- yield ---------------------------------------------------------------------

constexpr int kYields = 200000;

duet::Task<Result> yield_coro(int n) {
  auto a0 = duet::test::alloc_counts().news;
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) co_await duet::yield_now();
  auto t1 = Clock::now();
  co_return Result{std::chrono::duration<double>(t1 - t0).count(),
                   duet::test::alloc_counts().news - a0};
}
Result yield_fiber(int n) {
  auto a0 = duet::test::alloc_counts().news;
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) duet::this_fiber::yield();
  auto t1 = Clock::now();
  return Result{std::chrono::duration<double>(t1 - t0).count(),
                duet::test::alloc_counts().news - a0};
}

void BM_yield_stackless(benchmark::State& st) {
  duet::Runtime rt(config(int(st.range(0))));
  std::int64_t allocs = 0;
  for (auto _ : st) {
    Result r = rt.block_on(yield_coro(kYields));
    st.SetIterationTime(r.seconds);
    allocs += r.allocs;
  }
  report(st, kYields, allocs);
}
void BM_yield_stackful(benchmark::State& st) {
  duet::Runtime rt(config(int(st.range(0))));
  std::int64_t allocs = 0;
  for (auto _ : st) {
    Result r = rt.block_on(duet::stackful, [] { return yield_fiber(kYields); });
    st.SetIterationTime(r.seconds);
    allocs += r.allocs;
  }
  report(st, kYields, allocs);
}
BENCHMARK(BM_yield_stackless)->Name("yield/stackless")->Arg(1)->Arg(2)->UseManualTime();
BENCHMARK(BM_yield_stackful)->Name("yield/stackful")->Arg(1)->Arg(2)->UseManualTime();

duet::Task<void> yield_loop(int n) {
  for (int i = 0; i < n; ++i) co_await duet::yield_now();
}

template <bool Fiber>
void BM_yield_pair(benchmark::State& st) {
  duet::Runtime rt(config(1));
  std::int64_t allocs = 0;
  for (auto _ : st) {
    Result r = rt.block_on([](duet::Runtime& rt) -> duet::Task<Result> {
      auto a0 = duet::test::alloc_counts().news;
      auto t0 = Clock::now();
      if constexpr (Fiber) {
        auto body = [] {
          for (int i = 0; i < kYields; ++i) duet::this_fiber::yield();
        };
        auto a = rt.spawn(duet::stackful, body);
        auto b = rt.spawn(duet::stackful, body);
        co_await a;
        co_await b;
      } else {
        auto a = duet::spawn(yield_loop(kYields));
        auto b = duet::spawn(yield_loop(kYields));
        co_await a;
        co_await b;
      }
      auto t1 = Clock::now();
      co_return Result{std::chrono::duration<double>(t1 - t0).count(),
                       duet::test::alloc_counts().news - a0};
    }(rt));
    st.SetIterationTime(r.seconds);
    allocs += r.allocs;
  }
  report(st, 2.0 * kYields, allocs);  // per yield
}
BENCHMARK(BM_yield_pair<false>)->Name("yield_pair/stackless")->UseManualTime();
BENCHMARK(BM_yield_pair<true>)->Name("yield_pair/stackful")->UseManualTime();

// ---- ping-pong -------------------------------------------------------------------

// A turn shared by two tasks: each waits for its turn, then passes it on
// and wakes the other. One worker; the only cost is the scheduler's.
struct Turn {
  int turn = 0;  // single worker: plain data
  duet::Waker waiting[2];
};
struct WaitTurn {
  Turn* t;
  int me;
  duet::Poll<void> poll(duet::Context& cx) {
    if (t->turn == me) return duet::ready();
    if (!t->waiting[me].will_wake(cx.waker())) t->waiting[me] = cx.waker();
    return duet::pending;
  }
};
void pass(Turn& t, int me) {
  t.turn = 1 - me;
  t.waiting[1 - me].wake_by_ref();
}

duet::Task<void> pp_coro(Turn& t, int me, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    co_await WaitTurn{&t, me};
    pass(t, me);
  }
}
// One function for both fibers, as one coroutine body serves both tasks
// above. noipa: GCC otherwise clones it per constant `me` (constprop.0 and
// .1), and the two fibers ran two copies of the loop. A switch leaves the
// CPU's return stack holding the calls of the fiber that left; the fiber
// resumed returns through its own, and the first return into code the
// other fiber was not in (duet::wait back into its copy of the loop) was
// mispredicted, twice a round trip: 66 ns against 45 with one copy on the
// 2-vCPU EPYC VM (docs/performance-log.md, "Where a fiber's extra time
// went: the return predictions (issue 12)"). pingpong_distinct below keeps that case, on purpose.
[[gnu::noipa]] void pp_fiber(Turn& t, int me, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    duet::wait(WaitTurn{&t, me});
    pass(t, me);
  }
}

// A function of its own per task (Me is a template argument): the ping-pong
// of two different tasks, such as a producer and its consumer.
template <int Me>
duet::Task<void> pp_coro_own(Turn& t, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    co_await WaitTurn{&t, Me};
    pass(t, Me);
  }
}
template <int Me>
[[gnu::noipa]] void pp_fiber_own(Turn& t, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    duet::wait(WaitTurn{&t, Me});
    pass(t, Me);
  }
}

constexpr int kRounds = 100000;

template <bool Fiber, bool Distinct>
void BM_pingpong(benchmark::State& st) {
  duet::Runtime rt(config(1));
  std::int64_t allocs = 0;
  for (auto _ : st) {
    Result r = rt.block_on([](duet::Runtime& rt) -> duet::Task<Result> {
      Turn t;
      auto a0 = duet::test::alloc_counts().news;
      auto t0 = Clock::now();
      if constexpr (Fiber && Distinct) {
        auto a = rt.spawn(duet::stackful, [&t] { pp_fiber_own<0>(t, kRounds); });
        auto b = rt.spawn(duet::stackful, [&t] { pp_fiber_own<1>(t, kRounds); });
        co_await a;
        co_await b;
      } else if constexpr (Fiber) {
        auto a = rt.spawn(duet::stackful, [&t] { pp_fiber(t, 0, kRounds); });
        auto b = rt.spawn(duet::stackful, [&t] { pp_fiber(t, 1, kRounds); });
        co_await a;
        co_await b;
      } else if constexpr (Distinct) {
        auto a = duet::spawn(pp_coro_own<0>(t, kRounds));
        auto b = duet::spawn(pp_coro_own<1>(t, kRounds));
        co_await a;
        co_await b;
      } else {
        auto a = duet::spawn(pp_coro(t, 0, kRounds));
        auto b = duet::spawn(pp_coro(t, 1, kRounds));
        co_await a;
        co_await b;
      }
      auto t1 = Clock::now();
      co_return Result{std::chrono::duration<double>(t1 - t0).count(),
                       duet::test::alloc_counts().news - a0};
    }(rt));
    st.SetIterationTime(r.seconds);
    allocs += r.allocs;
  }
  report(st, kRounds, allocs);  // per round trip
}
BENCHMARK(BM_pingpong<false, false>)->Name("pingpong/stackless")->UseManualTime();
BENCHMARK(BM_pingpong<true, false>)->Name("pingpong/stackful")->UseManualTime();
BENCHMARK(BM_pingpong<false, true>)->Name("pingpong_distinct/stackless")->UseManualTime();
BENCHMARK(BM_pingpong<true, true>)->Name("pingpong_distinct/stackful")->UseManualTime();

// A fiber and a coroutine wake each other: the fiber cannot hand over to a
// coroutine, so each of its parks switches back to the worker loop, which
// runs the coroutine, then enters the fiber again. What a fiber woken by
// anything but another fiber pays (I/O, a timer, a coroutine).
void BM_pingpong_mixed(benchmark::State& st) {
  duet::Runtime rt(config(1));
  std::int64_t allocs = 0;
  for (auto _ : st) {
    Result r = rt.block_on([](duet::Runtime& rt) -> duet::Task<Result> {
      Turn t;
      auto a0 = duet::test::alloc_counts().news;
      auto t0 = Clock::now();
      auto a = rt.spawn(duet::stackful, [&t] { pp_fiber(t, 0, kRounds); });
      auto b = duet::spawn(pp_coro(t, 1, kRounds));
      co_await a;
      co_await b;
      auto t1 = Clock::now();
      co_return Result{std::chrono::duration<double>(t1 - t0).count(),
                       duet::test::alloc_counts().news - a0};
    }(rt));
    st.SetIterationTime(r.seconds);
    allocs += r.allocs;
  }
  report(st, kRounds, allocs);  // per round trip
}
BENCHMARK(BM_pingpong_mixed)->Name("pingpong/mixed")->UseManualTime();

// ---- spawn + join ------------------------------------------------------------------

constexpr int kSpawns = 100000;

duet::Task<int> trivial(int i) {
  co_return i;
}

template <bool Fiber>
void BM_spawn_join(benchmark::State& st) {
  duet::Runtime rt(config(int(st.range(0))));
  std::int64_t allocs = 0;
  for (auto _ : st) {
    Result r = rt.block_on([](duet::Runtime& rt) -> duet::Task<Result> {
      long sum = 0;
      auto a0 = duet::test::alloc_counts().news;
      auto t0 = Clock::now();
      for (int i = 0; i < kSpawns; ++i) {
        if constexpr (Fiber) {
          sum += co_await rt.spawn(duet::stackful, [i] { return i; });
        } else {
          sum += co_await duet::spawn(trivial(i));
        }
      }
      auto t1 = Clock::now();
      benchmark::DoNotOptimize(sum);
      co_return Result{std::chrono::duration<double>(t1 - t0).count(),
                       duet::test::alloc_counts().news - a0};
    }(rt));
    st.SetIterationTime(r.seconds);
    allocs += r.allocs;
  }
  report(st, kSpawns, allocs);
}
BENCHMARK(BM_spawn_join<false>)->Name("spawn_join/stackless")->Arg(1)->Arg(2)->UseManualTime();
BENCHMARK(BM_spawn_join<true>)->Name("spawn_join/stackful")->Arg(1)->Arg(2)->UseManualTime();

template <bool Fiber>
void BM_scope_spawn_join(benchmark::State& st) {
  duet::Runtime rt(config(int(st.range(0))));
  std::int64_t allocs = 0;
  for (auto _ : st) {
    Result r = rt.block_on([](duet::Runtime& rt) -> duet::Task<Result> {
      duet::TaskScope<int> scope(rt);
      long sum = 0;
      auto a0 = duet::test::alloc_counts().news;
      auto t0 = Clock::now();
      for (int i = 0; i < kSpawns; ++i) {
        if constexpr (Fiber) {
          scope.spawn(duet::stackful, [i] { return i; });
        } else {
          scope.spawn(trivial(i));
        }
        sum += (co_await scope.next())->take();
      }
      auto t1 = Clock::now();
      benchmark::DoNotOptimize(sum);
      co_return Result{std::chrono::duration<double>(t1 - t0).count(),
                       duet::test::alloc_counts().news - a0};
    }(rt));
    st.SetIterationTime(r.seconds);
    allocs += r.allocs;
  }
  report(st, kSpawns, allocs);
}
BENCHMARK(BM_scope_spawn_join<false>)
    ->Name("scope_spawn_join/stackless")
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime();
BENCHMARK(BM_scope_spawn_join<true>)
    ->Name("scope_spawn_join/stackful")
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime();

// ---- spawn N, then join all -------------------------------------------------------

/// Stack mapping system calls so far: an mmap per slab, an mprotect per
/// guarded stack, a munmap per stack unmapped (duet/stackful/stack.hpp).
std::uint64_t stack_syscalls() {
  const auto s = duet::detail::stack_pool_stats();
  return s.slabs + s.mapped + s.unmapped;
}

std::uint64_t minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::uint64_t>(u.ru_minflt);
}

template <bool Fiber>
void BM_spawn_all(benchmark::State& st) {
  const int workers = int(st.range(0));
  const int n = int(st.range(1));
  duet::Runtime rt(config(workers));
  // Counted from the second iteration on (steady state: the first one maps
  // and faults in whatever the pools lack). `syscalls/op` counts every
  // system call of the process's threads (perf tracepoint; 0 and
  // `syscall_counter=0` where perf events are refused), parks and wake-ups
  // of idle workers included; `stack_syscalls/op` only the stack mappings.
  duet::lab::SysCounter sys;
  std::uint64_t sys0 = 0, stack0 = 0, faults0 = 0;
  std::int64_t steady = 0;
  std::int64_t allocs = 0;
  for (auto _ : st) {
    if (steady++ == 1) {
      sys0 = sys.syscalls();
      stack0 = stack_syscalls();
      faults0 = minor_faults();
    }
    Result r = rt.block_on([](duet::Runtime& rt, int n) -> duet::Task<Result> {
      std::atomic<long> counter{0};
      std::vector<duet::JoinHandle<void>> hs;
      hs.reserve(std::size_t(n));
      auto a0 = duet::test::alloc_counts().news;
      auto t0 = Clock::now();
      for (int i = 0; i < n; ++i) {
        if constexpr (Fiber) {
          hs.push_back(rt.spawn(duet::stackful,
                                [&counter] { counter.fetch_add(1, std::memory_order_relaxed); }));
        } else {
          hs.push_back(duet::spawn([](std::atomic<long>& c) -> duet::Task<void> {
            c.fetch_add(1, std::memory_order_relaxed);
            co_return;
          }(counter)));
        }
      }
      for (auto& h : hs) co_await h;
      auto t1 = Clock::now();
      co_return Result{std::chrono::duration<double>(t1 - t0).count(),
                       duet::test::alloc_counts().news - a0};
    }(rt, n));
    st.SetIterationTime(r.seconds);
    allocs += r.allocs;
  }
  report(st, n, allocs);
  const double steady_ops = double(n) * double(steady - 1);
  st.counters["syscall_counter"] = sys.ok() ? 1 : 0;
  if (steady > 1) {
    st.counters["syscalls/op"] = double(sys.syscalls() - sys0) / steady_ops;
    st.counters["stack_syscalls/op"] = double(stack_syscalls() - stack0) / steady_ops;
    st.counters["faults/op"] = double(minor_faults() - faults0) / steady_ops;
  }
}
void spawn_all_args(benchmark::internal::Benchmark* b) {
  for (int w : {1, 2}) {
    for (int n : {1000, 10000, 100000, 1000000}) b->Args({w, n});
  }
}
BENCHMARK(BM_spawn_all<false>)
    ->Name("spawn_all/stackless")
    ->Apply(spawn_all_args)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_spawn_all<true>)
    ->Name("spawn_all/stackful")
    ->Apply(spawn_all_args)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

template <bool Fiber>
void BM_scope_all(benchmark::State& st) {
  const int n = int(st.range(1));
  duet::Runtime rt(config(int(st.range(0))));
  std::int64_t allocs = 0;
  for (auto _ : st) {
    Result r = rt.block_on([](duet::Runtime& rt, int n) -> duet::Task<Result> {
      std::atomic<long> counter{0};
      duet::TaskScope<void> scope(rt);
      auto a0 = duet::test::alloc_counts().news;
      auto t0 = Clock::now();
      for (int i = 0; i < n; ++i) {
        if constexpr (Fiber) {
          scope.spawn(duet::stackful,
                      [&counter] { counter.fetch_add(1, std::memory_order_relaxed); });
        } else {
          scope.spawn([](std::atomic<long>& c) -> duet::Task<void> {
            c.fetch_add(1, std::memory_order_relaxed);
            co_return;
          }(counter));
        }
      }
      co_await scope.join();
      auto t1 = Clock::now();
      co_return Result{std::chrono::duration<double>(t1 - t0).count(),
                       duet::test::alloc_counts().news - a0};
    }(rt, n));
    st.SetIterationTime(r.seconds);
    allocs += r.allocs;
  }
  report(st, n, allocs);
}
void scope_all_args(benchmark::internal::Benchmark* b) {
  for (int w : {1, 2}) {
    for (int n : {1000, 100000}) b->Args({w, n});
  }
}
BENCHMARK(BM_scope_all<false>)
    ->Name("scope_all/stackless")
    ->Apply(scope_all_args)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_scope_all<true>)
    ->Name("scope_all/stackful")
    ->Apply(scope_all_args)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// ---- a task behind a blocked worker -------------------------------------------

struct Stuck {
  std::atomic<bool> ran{false};
  Clock::time_point woke, ran_at;
};

// Spins (the long poll) until the woken task ran, or 1 s passed (a kernel
// without membarrier(2) never steals the slot).
void spin_until_ran(Stuck& s) {
  const auto give_up = Clock::now() + std::chrono::seconds(1);
  while (!s.ran.load(std::memory_order_acquire) && Clock::now() < give_up) {
    for (int i = 0; i < 64; ++i) __builtin_ia32_pause();
  }
}

duet::Task<void> stuck_wakee(duet::OneshotSender<int> parked, duet::OneshotReceiver<int> go,
                             Stuck& s) {
  (void)parked.send(1);
  co_await go;
  s.ran_at = Clock::now();
  s.ran.store(true, std::memory_order_release);
}

duet::Task<double> stuck_coro(Stuck& s) {
  auto parked = duet::oneshot<int>();
  auto go = duet::oneshot<int>();
  // Spawned into our LIFO slot; it runs here, wakes us and parks.
  duet::spawn(stuck_wakee(std::move(parked.first), std::move(go.second), s)).detach();
  co_await parked.second;
  s.woke = Clock::now();
  (void)go.first.send(1);  // into our LIFO slot, behind the spin below
  spin_until_ran(s);
  co_return std::chrono::duration<double>(s.ran_at - s.woke).count();
}

double stuck_fiber(Stuck& s) {
  auto parked = duet::oneshot<int>();
  auto go = duet::oneshot<int>();
  duet::spawn(duet::stackful, [tx = std::move(parked.first), rx = std::move(go.second),
                               &s]() mutable {
    (void)tx.send(1);
    duet::wait(rx);
    s.ran_at = Clock::now();
    s.ran.store(true, std::memory_order_release);
  }).detach();
  duet::wait(parked.second);
  s.woke = Clock::now();
  (void)go.first.send(1);
  spin_until_ran(s);
  return std::chrono::duration<double>(s.ran_at - s.woke).count();
}

template <bool Fiber>
void BM_lifo_stuck(benchmark::State& st) {
  duet::Runtime rt(config(2));
  for (auto _ : st) {
    Stuck s;
    double seconds = 0;
    if constexpr (Fiber) {
      seconds = rt.spawn(duet::stackful, [&s] { return stuck_fiber(s); }).join();
    } else {
      seconds = rt.spawn(stuck_coro(s)).join();
    }
    st.SetIterationTime(seconds);
  }
  st.counters["us/op"] = benchmark::Counter(
      double(st.iterations()) * 1e-6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_lifo_stuck<false>)
    ->Name("lifo_stuck/stackless")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_lifo_stuck<true>)
    ->Name("lifo_stuck/stackful")
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return double(tv.tv_sec) + double(tv.tv_usec) * 1e-6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Spins in one poll for `d` with an empty LIFO slot; returns the CPU this
// thread used (the rest of the process is the other worker and main).
duet::Task<double> spin_alone(std::chrono::milliseconds d) {
  const double c0 = thread_cpu_seconds();
  const auto end = Clock::now() + d;
  while (Clock::now() < end) __builtin_ia32_pause();
  co_return thread_cpu_seconds() - c0;
}

void BM_lifo_watch(benchmark::State& st) {
  duet::RuntimeConfig c = config(2);
  if (st.range(0) == 0) c.lifo_steal_after = std::chrono::nanoseconds(0);
  duet::Runtime rt(c);
  const auto spin = std::chrono::milliseconds(50);
  double wall = 0, others = 0;
  for (auto _ : st) {
    const double p0 = process_cpu_seconds();
    const auto t0 = Clock::now();
    const double spinner = rt.spawn(spin_alone(spin)).join();
    wall += std::chrono::duration<double>(Clock::now() - t0).count();
    others += process_cpu_seconds() - p0 - spinner;
  }
  // The CPU spent beside the spinning worker, in % of the wall time.
  st.counters["others_cpu_pct"] = 100.0 * others / wall;
}
BENCHMARK(BM_lifo_watch)->Name("lifo_watch")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

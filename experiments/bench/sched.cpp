// bench_sched: the scheduler's hot paths for both backends (issue 2), with
// the bare mechanisms beside them so that the report shows what the
// scheduler adds.
//
//   bare/resume          coroutine_handle::resume + suspend, no scheduler
//   bare/fcontext        jump_fcontext there and back, no scheduler
//   yield/<backend>      one task yields in a loop (round trip through the
//                        worker loop)
//   pingpong/<backend>   two tasks wake each other in turn (one round trip =
//                        two wake-ups and two suspensions)
//   spawn_join/<backend> from inside a task: spawn a trivial child, join it
//   spawn_all/<backend>  from inside a task: spawn N children that each
//                        increment a counter, then join all (warm: the
//                        runtime and its pools are reused across iterations)
//
// Every timing is measured inside the runtime (manual time), per operation;
// `allocs/op` counts global operator new calls per operation. Arguments:
// workers (1 or 2) and, for spawn_all, N. Workers are pinned one per core.
#include <benchmark/benchmark.h>

#include <alloc_tracker.hpp>
#include <atomic>
#include <boost/context/detail/fcontext.hpp>
#include <chrono>
#include <coroutine>
#include <duet/duet.hpp>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
namespace bc = boost::context::detail;

duet::RuntimeConfig config(int workers) {
  duet::RuntimeConfig c;
  c.workers = static_cast<unsigned>(workers);
  c.io_driver = duet::IoDriver::none;  // the scheduler alone
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
void pp_fiber(Turn& t, int me, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    duet::wait(WaitTurn{&t, me});
    pass(t, me);
  }
}

constexpr int kRounds = 100000;

template <bool Fiber>
void BM_pingpong(benchmark::State& st) {
  duet::Runtime rt(config(1));
  std::int64_t allocs = 0;
  for (auto _ : st) {
    Result r = rt.block_on([](duet::Runtime& rt) -> duet::Task<Result> {
      Turn t;
      auto a0 = duet::test::alloc_counts().news;
      auto t0 = Clock::now();
      if constexpr (Fiber) {
        auto a = rt.spawn(duet::stackful, [&t] { pp_fiber(t, 0, kRounds); });
        auto b = rt.spawn(duet::stackful, [&t] { pp_fiber(t, 1, kRounds); });
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
BENCHMARK(BM_pingpong<false>)->Name("pingpong/stackless")->UseManualTime();
BENCHMARK(BM_pingpong<true>)->Name("pingpong/stackful")->UseManualTime();

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

// ---- spawn N, then join all -------------------------------------------------------

template <bool Fiber>
void BM_spawn_all(benchmark::State& st) {
  const int workers = int(st.range(0));
  const int n = int(st.range(1));
  duet::Runtime rt(config(workers));
  std::int64_t allocs = 0;
  for (auto _ : st) {
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

}  // namespace

BENCHMARK_MAIN();

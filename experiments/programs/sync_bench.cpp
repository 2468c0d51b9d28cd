// sync_bench: issue 4's measurements, one JSONL record per number
// (experiments/support/lab.hpp format).
//
//   exp_sync_bench [pingpong|mutex|fanin|broadcast|timers|all] [scale]
//
// pingpong   channel ping-pong round trip on ONE worker (the claim's target:
//            <= 50 ns), coroutine pair, fiber pair, mixed; cap 0 and 1;
//            plus allocations per round trip (claim R4).
// mutex      lock+unlock: uncontended, and contended by 8 tasks on 2 workers.
// fanin      claim R8: N tasks parked on one channel (receivers; senders on
//            a full cap-1 channel), then close(): time of the close() call
//            and until every parked task has resumed, per task.
// broadcast  one sender, 8 receivers (4 coroutines, 4 fibers), 1 worker.
// timers     1M Sleep futures polled on a worker (inserted in its wheel),
//            then dropped (cancelled); 1M firing.
// Allocations are counted by tests/support/alloc_tracker (operator new
// calls) over the timed region, divided by the operations.
#include <time.h>
#include <alloc_tracker.hpp>
#include <duet/duet.hpp>
#include <lab.hpp>
#include <memory>
#include <string>
#include <vector>

using namespace duet;
// duet::Clock is the runtime's clock (duet/time/clock.hpp); these timings read steady_clock.
using BenchClock = lab::Clock;
using lab::emit;
using lab::ns_since;

namespace {

RuntimeConfig cfg(unsigned workers) {
  RuntimeConfig c;
  c.workers = workers;
  c.placement = Placement::none;
  c.io_driver = IoDriver::none;
  return c;
}
std::int64_t news() {
  return duet::test::alloc_counts().news;
}
/// CPU time of the calling thread: on a 1-worker runtime every task runs on
/// that thread, so this is the work itself, without the time slices other
/// processes took from us (the 2-vCPU machine is shared).
double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

struct PingResult {
  double ns = 0;
  double cpu_ns = 0;
  double allocs = 0;
};

// ---- ping-pong ---------------------------------------------------------------

Task<void> coro_ping(Channel<int> a, Channel<int> b, int n, PingResult* r) {
  constexpr int warm = 2000;
  for (int i = 0; i < warm; ++i) {
    (void)co_await a.send(i);
    (void)co_await b.recv();
  }
  auto n0 = news();
  auto t0 = BenchClock::now();
  double c0 = thread_cpu_ns();
  for (int i = 0; i < n; ++i) {
    (void)co_await a.send(i);
    (void)co_await b.recv();
  }
  r->cpu_ns = (thread_cpu_ns() - c0) / n;
  r->ns = ns_since(t0) / n;
  r->allocs = double(news() - n0) / n;
}
Task<void> coro_pong(Channel<int> a, Channel<int> b, int n) {
  for (int i = 0; i < n + 2000; ++i) {
    auto v = co_await a.recv();
    (void)co_await b.send(*v);
  }
}
void fiber_ping(Channel<int> a, Channel<int> b, int n, PingResult* r) {
  constexpr int warm = 2000;
  for (int i = 0; i < warm; ++i) {
    (void)duet::wait(a.send(i));
    (void)duet::wait(b.recv());
  }
  auto n0 = news();
  auto t0 = BenchClock::now();
  double c0 = thread_cpu_ns();
  for (int i = 0; i < n; ++i) {
    (void)duet::wait(a.send(i));
    (void)duet::wait(b.recv());
  }
  r->cpu_ns = (thread_cpu_ns() - c0) / n;
  r->ns = ns_since(t0) / n;
  r->allocs = double(news() - n0) / n;
}
void fiber_pong(Channel<int> a, Channel<int> b, int n) {
  for (int i = 0; i < n + 2000; ++i) {
    auto v = duet::wait(a.recv());
    (void)duet::wait(b.send(*v));
  }
}

void pingpong(int scale) {
  const int n = 200000 * scale;
  for (std::size_t cap : {std::size_t{0}, std::size_t{1}}) {
    for (const char* mode : {"stackless", "stackful", "mixed"}) {
      Runtime rt(cfg(1));
      auto a = Channel<int>::bounded(cap), b = Channel<int>::bounded(cap);
      PingResult r;
      std::string m(mode);
      JoinHandle<void> h1, h2;
      if (m == "stackless") {
        h1 = rt.spawn(coro_ping(a, b, n, &r));
        h2 = rt.spawn(coro_pong(a, b, n));
      } else if (m == "stackful") {
        h1 = rt.spawn(duet::stackful, [=, &r] { fiber_ping(a, b, n, &r); });
        h2 = rt.spawn(duet::stackful, [=] { fiber_pong(a, b, n); });
      } else {
        h1 = rt.spawn(coro_ping(a, b, n, &r));
        h2 = rt.spawn(duet::stackful, [=] { fiber_pong(a, b, n); });
      }
      h1.join();
      h2.join();
      std::string meth =
          "two tasks, 1 worker, Channel<int>::bounded(" + std::to_string(cap) +
          "), send+recv each way per round trip, steady_clock over n rounds after 2000 warm-up";
      emit("sync_pingpong_cap" + std::to_string(cap), std::string("duet-") + mode, "round_trip",
           r.ns, "ns", n, meth + "; wall clock");
      emit("sync_pingpong_cap" + std::to_string(cap), std::string("duet-") + mode, "round_trip_cpu",
           r.cpu_ns, "ns", n, meth + "; worker thread CPU time (CLOCK_THREAD_CPUTIME_ID)");
      emit("sync_pingpong_cap" + std::to_string(cap), std::string("duet-") + mode,
           "allocs_per_round_trip", r.allocs, "allocs", n, meth + "; operator new calls");
    }
  }
}

// ---- mutex -------------------------------------------------------------------

void mutex_bench(int scale) {
  {
    Runtime rt(cfg(1));
    Mutex m;
    const int n = 2000000 * scale;
    double ns = rt.block_on([](Mutex& m, int n) -> Task<double> {
      double c0 = thread_cpu_ns();
      for (int i = 0; i < n; ++i) {
        auto g = co_await m.lock();
      }
      co_return (thread_cpu_ns() - c0) / n;
    }(m, n));
    emit("sync_mutex_uncontended", "duet-stackless", "lock_unlock_cpu", ns, "ns", n,
         "co_await m.lock() + guard drop, 1 task, 1 worker; thread CPU time");
    double fns = rt.block_on(duet::stackful, [&m, n] {
      double c0 = thread_cpu_ns();
      for (int i = 0; i < n; ++i) {
        auto g = duet::wait(m.lock());
      }
      return (thread_cpu_ns() - c0) / n;
    });
    emit("sync_mutex_uncontended", "duet-stackful", "lock_unlock_cpu", fns, "ns", n,
         "duet::wait(m.lock()) + guard drop, 1 fiber, 1 worker; thread CPU time");
  }
  for (const char* mode : {"stackless", "stackful"}) {
    Runtime rt(cfg(2));
    Mutex m;
    const int tasks = 8, per = 100000 * scale;
    long counter = 0;
    std::vector<JoinHandle<void>> hs;
    auto n0 = news();
    auto t0 = BenchClock::now();
    for (int t = 0; t < tasks; ++t) {
      if (std::string(mode) == "stackless") {
        hs.push_back(rt.spawn([](Mutex& m, long& c, int per) -> Task<void> {
          for (int i = 0; i < per; ++i) {
            auto g = co_await m.lock();
            ++c;
          }
        }(m, counter, per)));
      } else {
        hs.push_back(rt.spawn(duet::stackful, [&m, &counter, per] {
          for (int i = 0; i < per; ++i) {
            auto g = duet::wait(m.lock());
            ++counter;
          }
        }));
      }
    }
    for (auto& h : hs) h.join();
    double total = ns_since(t0);
    double allocs = double(news() - n0 - 2 * tasks) / (tasks * per);  // minus spawn + join
    if (counter != long(tasks) * per) std::fprintf(stderr, "mutex: lost increments!\n");
    std::string meth = "8 tasks x lock/++/unlock, 2 workers; wall time / total lock+unlock pairs";
    emit("sync_mutex_contended", std::string("duet-") + mode, "lock_unlock", total / (tasks * per),
         "ns", tasks * per, meth);
    emit("sync_mutex_contended", std::string("duet-") + mode, "allocs_per_lock",
         allocs < 0 ? 0 : allocs, "allocs", tasks * per,
         meth + "; operator new calls (spawns excluded)");
  }
}

// ---- fan-in / close (claim R8) -------------------------------------------------

void fanin(int scale) {
  for (int n : {10000, 100000, 1000000}) {
    if (n > 100000 * scale && n > 100000) continue;
    for (const char* who : {"receivers", "senders"}) {
      Runtime rt(cfg(2));
      auto ch = Channel<int>::bounded(1);
      bool senders = std::string(who) == "senders";
      if (senders) (void)ch.try_send(0);  // full: every sender parks
      std::atomic<int> resumed{0};
      std::vector<JoinHandle<void>> hs;
      hs.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        if (senders) {
          hs.push_back(rt.spawn([](Channel<int> ch, std::atomic<int>& r) -> Task<void> {
            (void)co_await ch.send(1);
            r.fetch_add(1, std::memory_order_relaxed);
          }(ch, resumed)));
        } else {
          hs.push_back(rt.spawn([](Channel<int> ch, std::atomic<int>& r) -> Task<void> {
            (void)co_await ch.recv();
            r.fetch_add(1, std::memory_order_relaxed);
          }(ch, resumed)));
        }
      }
      // Wait until all are parked.
      for (;;) {
        auto [rq, sq] = ch.waiters();
        if ((senders ? sq : rq) == static_cast<std::size_t>(n)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      auto n0 = news();
      auto t0 = BenchClock::now();
      ch.close();
      double close_ns = ns_since(t0);
      auto close_allocs = news() - n0;
      while (resumed.load(std::memory_order_relaxed) < n) std::this_thread::yield();
      double all_ns = ns_since(t0);
      for (auto& h : hs) h.join();
      std::string exp = std::string("sync_fanin_close_") + who;
      std::string meth = std::to_string(n) +
                         " coroutines parked on one cap-1 channel, 2 workers; close() from main";
      emit(exp, "duet-stackless", "close_call_per_waiter", close_ns / n, "ns", n, meth);
      emit(exp, "duet-stackless", "close_to_all_resumed_per_waiter", all_ns / n, "ns", n,
           meth + "; until every task ran again");
      emit(exp, "duet-stackless", "close_to_all_resumed", all_ns / 1e6, "ms", n, meth);
      emit(exp, "duet-stackless", "close_allocs", double(close_allocs), "allocs", n, meth);
    }
  }
  // Fibers: fewer (each has a stack).
  {
    const int n = 10000;
    Runtime rt(cfg(2));
    auto ch = Channel<int>::bounded(1);
    std::atomic<int> resumed{0};
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < n; ++i) {
      hs.push_back(rt.spawn(duet::stackful, [ch, &resumed]() mutable {
        (void)duet::wait(ch.recv());
        resumed.fetch_add(1, std::memory_order_relaxed);
      }));
    }
    while (ch.waiters().first != static_cast<std::size_t>(n))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto t0 = BenchClock::now();
    ch.close();
    double close_ns = ns_since(t0);
    while (resumed.load() < n) std::this_thread::yield();
    double all_ns = ns_since(t0);
    for (auto& h : hs) h.join();
    std::string meth =
        "10000 fibers parked in recv on one cap-1 channel, 2 workers; close() from main";
    emit("sync_fanin_close_receivers", "duet-stackful", "close_call_per_waiter", close_ns / n, "ns",
         n, meth);
    emit("sync_fanin_close_receivers", "duet-stackful", "close_to_all_resumed_per_waiter",
         all_ns / n, "ns", n, meth);
  }
}

// ---- broadcast ---------------------------------------------------------------

void broadcast(int scale) {
  Runtime rt(cfg(1));
  auto tx = Broadcast<int>::create(1024);
  const int msgs = 200000 * scale, k = 8;
  std::vector<JoinHandle<long>> hs;
  for (int i = 0; i < k; ++i) {
    auto rx = tx.subscribe();
    if (i % 2 == 0) {
      hs.push_back(rt.spawn([](BroadcastReceiver<int> rx) -> Task<long> {
        long got = 0;
        for (;;) {
          auto r = co_await rx.recv();
          if (r.status == ChannelStatus::closed) co_return got;
          got += r.ok() ? 1 : static_cast<long>(r.missed);
        }
      }(std::move(rx))));
    } else {
      hs.push_back(rt.spawn(duet::stackful, [rx]() mutable {
        long got = 0;
        for (;;) {
          auto r = duet::wait(rx.recv());
          if (r.status == ChannelStatus::closed) return got;
          got += r.ok() ? 1 : static_cast<long>(r.missed);
        }
      }));
    }
  }
  auto n0 = news();
  auto t0 = BenchClock::now();
  auto s = rt.spawn([](Broadcast<int> tx, int msgs) -> Task<void> {
    for (int i = 0; i < msgs; ++i) {
      (void)tx.send(i);                              // never fails before the close below
      if (i % 64 == 63) co_await duet::yield_now();  // let receivers drain
    }
    tx.close();
  }(tx, msgs));
  s.join();
  long total = 0;
  for (auto& h : hs) total += h.join();
  double ns = ns_since(t0);
  std::string meth =
      "1 sender (yields every 64), 8 receivers (4 coroutines, 4 fibers), capacity 1024, 1 worker";
  emit("sync_broadcast", "duet-mixed", "per_message_per_receiver", ns / (double(msgs) * k), "ns",
       msgs, meth);
  emit("sync_broadcast", "duet-mixed", "allocs_per_message", double(news() - n0 - 2) / msgs,
       "allocs", msgs, meth);
  if (total != long(msgs) * k)
    std::fprintf(stderr, "broadcast: %ld of %ld\n", total, long(msgs) * k);
}

// ---- timers ------------------------------------------------------------------

/// Runs the timer measurements inside one poll on a worker (the Sleeps
/// register on that worker's wheel with this task's waker).
struct TimerBench {
  int n;
  std::vector<Sleep>* sleeps;
  int phase = 0;
  Instant last_deadline{};
  double cpu_mark = 0;
  Poll<void> poll(Context& cx) {
    if (phase == 0) {
      auto base = BenchClock::now() + std::chrono::seconds(1);
      sleeps->reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) sleeps->emplace_back(base + std::chrono::microseconds(i));
      auto n0 = news();
      auto t0 = BenchClock::now();
      double c0 = thread_cpu_ns();
      for (auto& s : *sleeps) (void)s.poll(cx);
      double ins_cpu = (thread_cpu_ns() - c0) / n;
      double ins = ns_since(t0) / n;
      auto allocs = news() - n0;
      t0 = BenchClock::now();
      c0 = thread_cpu_ns();
      sleeps->clear();  // destructors cancel
      double can_cpu = (thread_cpu_ns() - c0) / n;
      double can = ns_since(t0) / n;
      std::string meth = std::to_string(n) +
                         " Sleep futures (deadlines spread over 1 s, 1 s ahead) polled once on a "
                         "worker, then dropped";
      emit("sync_timers", "duet", "insert", ins, "ns", n, meth + "; sleep_until: no clock read");
      emit("sync_timers", "duet", "cancel", can, "ns", n, meth);
      emit("sync_timers", "duet", "insert_cpu", ins_cpu, "ns", n, meth + "; thread CPU time");
      emit("sync_timers", "duet", "cancel_cpu", can_cpu, "ns", n, meth + "; thread CPU time");
      emit("sync_timers", "duet", "insert_allocs_per_timer", double(allocs) / n, "allocs", n, meth);
      emit("sync_timers", "duet", "sleep_future_size", sizeof(Sleep), "bytes", n,
           "sizeof(duet::Sleep)");
      // Firing: 1M deadlines within 1 ms, far enough ahead that all are
      // registered first (building and polling 1M Sleeps takes 40-100 ms;
      // with 2 ms, as before, the deadlines passed during the loop, a Sleep
      // past its deadline completes at its poll without registering, and
      // this task, woken by none of them, waited forever: the suite's
      // sync_bench hung until its timeout).
      base = BenchClock::now() + std::chrono::milliseconds(500);
      for (int i = 0; i < n; ++i) sleeps->emplace_back(base + std::chrono::nanoseconds(i));
      last_deadline = base + std::chrono::nanoseconds(n);
      for (auto& s : *sleeps) (void)s.poll(cx);
      phase = 1;
      cpu_mark = thread_cpu_ns();
      if (BenchClock::now() >= base) {
        std::fprintf(stderr, "sync_bench timers: registering took past the first deadline\n");
      }
    }
    // A Sleep that completed at its poll holds no waker: only those still
    // pending wake this task, and it checks them all each time.
    if (!all_elapsed()) return pending;
    double fire_cpu = (thread_cpu_ns() - cpu_mark) / n;
    emit("sync_timers", "duet", "fire_cpu", fire_cpu, "ns", n,
         "1M timers due within 1 ms (500 ms ahead) on 1 worker; worker thread CPU time from "
         "registration to the task seeing all fired (the wait is spent parked: no CPU) / n; "
         "includes the task's 1M-entry check");
    double fire = ns_since(last_deadline) / n;
    emit("sync_timers", "duet", "fire_upper_bound", fire, "ns", n,
         "1M timers due within 1 ms; (time all seen fired - last deadline) / n: includes the wait "
         "for the next tick");
    sleeps->clear();
    return ready();
  }
  [[nodiscard]] bool all_elapsed() const {
    for (const auto& s : *sleeps) {
      if (!s.is_elapsed()) return false;
    }
    return true;
  }
};

void timers(int scale) {
  (void)scale;
  Runtime rt(cfg(1));
  std::vector<Sleep> sleeps;
  rt.spawn(TimerBench{1000000, &sleeps}).join();
}

}  // namespace

int main(int argc, char** argv) {
  std::string what = argc > 1 ? argv[1] : "all";
  int scale = argc > 2 ? std::atoi(argv[2]) : 1;
  if (scale < 1) scale = 1;
  if (what == "pingpong" || what == "all") pingpong(scale);
  if (what == "mutex" || what == "all") mutex_bench(scale);
  if (what == "fanin" || what == "all") fanin(scale);
  if (what == "broadcast" || what == "all") broadcast(scale);
  if (what == "timers" || what == "all") timers(scale);
  return 0;
}

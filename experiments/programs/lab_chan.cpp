// lab_chan: channel close fan-out (R8), select fairness (R9) and the blocking
// pool (R6), on duet's own primitives. (The channel and runtime engineers'
// experiments, when they land, are reported beside these.)
//
//   close N    N coroutines parked on recv() of one channel; time from close()
//              until every one has run, and how many worker polls that took
//              (one scheduler pass over N woken tasks = N polls); and N
//              senders parked on a 1-slot channel, the same (R8)
//   select N   N selects over two channels that are both ready: share of the
//              first case, and the chi-square statistic against 50/50 (R9)
//   blocking   R6: N spawn_blocking jobs of 200 ms: peak pool threads (the
//              limit is 512); a worker task's yield latency meanwhile; pool
//              threads left after the keep-alive (set to 200 ms here)
//
//   exp_lab_chan close|select|blocking [--n N]
#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lab_gate.hpp"

namespace {

duet::RuntimeConfig cfg(unsigned workers) {
  duet::RuntimeConfig c;
  c.workers = workers;
  c.placement = duet::Placement::compact;
  return c;
}

std::uint64_t polls(duet::Runtime& rt) {
  std::uint64_t p = 0;
  for (auto& s : rt.stats()) p += s.polls;
  return p;
}

std::atomic<long> woke{0}, parked{0};

duet::Task<void> receiver(duet::Channel<int> ch) {
  parked.fetch_add(1);
  auto v = co_await ch.recv();
  (void)v;
  woke.fetch_add(1);
}
duet::Task<void> sender(duet::Channel<int> ch, int i) {
  parked.fetch_add(1);
  auto r = co_await ch.send(i);
  (void)r;
  woke.fetch_add(1);
}

void close_test(long n) {
  for (int kind = 0; kind < 2; ++kind) {
    duet::Runtime rt(cfg(1));
    auto ch = duet::Channel<int>::bounded(1);
    if (kind == 1) (void)ch.try_send(-1);  // fill the slot: senders park
    woke = 0;
    parked = 0;
    for (long i = 0; i < n; ++i) {
      if (kind == 0)
        rt.spawn(receiver(ch)).detach();
      else
        rt.spawn(sender(ch, static_cast<int>(i))).detach();
    }
    while (parked.load() < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::uint64_t p0 = polls(rt);
    auto t0 = lab::Clock::now();
    ch.close();
    while (woke.load() < n) std::this_thread::yield();
    double ns = lab::ns_since(t0);
    std::uint64_t p1 = polls(rt);
    std::string impl = kind == 0 ? "duet-receivers" : "duet-senders";
    std::string m = std::string("1 worker: N coroutines parked on ") +
                    (kind == 0 ? "recv()" : "send() to a full 1-slot") +
                    " channel; close(), until all have run";
    lab::emit("chan_close", impl, "wake_all", ns, "ns", n, m);
    lab::emit("chan_close", impl, "wake_per_task", ns / double(n), "ns", n, m + ", per woken task");
    lab::emit("chan_close", impl, "polls_per_woken", double(p1 - p0) / double(n), "polls", n,
              m + ": worker polls (rt.stats()) per woken task");
  }
}

duet::Task<long> select_loop(long n) {
  auto a = duet::Channel<int>::bounded(1);
  auto b = duet::Channel<int>::bounded(1);
  long first = 0;
  for (long i = 0; i < n; ++i) {
    (void)a.try_send(1);
    (void)b.try_send(2);
    auto r = co_await duet::select(a.recv(), b.recv());
    if (r.index() == 0) {
      ++first;
      (void)b.try_recv();
    } else {
      (void)a.try_recv();
    }
  }
  co_return first;
}

void select_test(long n) {
  duet::Runtime rt(cfg(1));
  long first = rt.spawn(select_loop(n)).join();
  double p = double(first) / double(n);
  double e = double(n) / 2;
  double chi2 = (double(first) - e) * (double(first) - e) / e +
                (double(n - first) - e) * (double(n - first) - e) / e;
  lab::emit("chan_select", "duet", "first_case_share", p, "ratio", n,
            "co_await select(a.recv(), b.recv()) with both ready");
  lab::emit(
      "chan_select", "duet", "chi_square", chi2, "chi2", n,
      "chi-square of the first/second counts against 50/50 (1 degree of freedom; 3.84 = p 0.05)");
}

duet::Task<void> ticker(std::atomic<bool>* stop, std::vector<double>* gaps) {
  auto last = lab::Clock::now();
  while (!stop->load()) {
    co_await duet::sleep(std::chrono::milliseconds(1));
    auto now = lab::Clock::now();
    gaps->push_back(std::chrono::duration<double, std::micro>(now - last).count());
    last = now;
  }
}

void blocking_test(long jobs) {
  duet::RuntimeConfig c = cfg(duet::Topology::machine().pus());
  c.blocking_keep_alive = std::chrono::milliseconds(200);
  duet::Runtime rt(c);
  duet::configure_blocking_pool(
      {.max_threads = c.max_blocking_threads, .keep_alive = c.blocking_keep_alive});
  std::atomic<bool> stop{false};
  std::vector<double> gaps;
  auto tick = rt.spawn(ticker(&stop, &gaps));
  auto t0 = lab::Clock::now();
  std::vector<duet::JoinHandle<void>> hs;
  for (long i = 0; i < jobs; ++i)
    hs.push_back(rt.spawn(duet::stackful, [] {
      return duet::spawn_blocking(
                 [] { std::this_thread::sleep_for(std::chrono::milliseconds(200)); })
          .join();
    }));
  for (auto& h : hs) h.join();
  double ms = lab::ns_since(t0) / 1e6;
  stop = true;
  tick.join();
  auto st = duet::blocking_pool_stats();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  auto st2 = duet::blocking_pool_stats();
  std::sort(gaps.begin(), gaps.end());
  std::string m = std::to_string(jobs) + " spawn_blocking jobs of 200 ms (sleep), from fibers";
  lab::emit("blocking_pool", "duet", "peak_threads", double(st.peak_threads), "threads", jobs,
            m + "; limit " + std::to_string(st.max_threads));
  lab::emit("blocking_pool", "duet", "max_threads", double(st.max_threads), "threads", jobs,
            "RuntimeConfig::max_blocking_threads");
  lab::emit("blocking_pool", "duet", "total_time", ms, "ms", jobs, m + "; all joined");
  lab::emit("blocking_pool", "duet", "threads_after_keep_alive", double(st2.threads), "threads",
            jobs, "pool threads alive 600 ms after the last job (keep-alive set to 200 ms)");
  lab::emit("blocking_pool", "duet", "reclaimed", double(st2.reclaimed), "threads", jobs,
            "threads that exited after the keep-alive");
  if (!gaps.empty())
    lab::emit("blocking_pool", "duet", "worker_tick_p99",
              gaps[std::min(gaps.size() - 1, gaps.size() * 99 / 100)], "us", jobs,
              "a task sleeping 1 ms in a loop on the workers meanwhile: p99 interval (1000 = "
              "undisturbed)");
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  std::string t = args.pos.empty() ? "" : args.pos[0];
  long n = args.num("n", 10000);
  if (t == "close")
    close_test(n);
  else if (t == "select")
    select_test(n);
  else if (t == "blocking")
    blocking_test(n);
  else {
    std::fprintf(stderr, "usage: %s close|select|blocking [--n N]\n", argv[0]);
    return 2;
  }
  return 0;
}

// The Boost.Fiber peer: the lab's shared tests with boost::fibers on one
// thread (round_robin scheduler, default fixedsize stacks), as JSONL records.
//
//   boost-fiber-peer rss|spawn_seq|spawn_conc|spawn_inc|yield N
//
// Boost.Fiber runs fibers of one thread on that thread; spreading them over
// threads needs a work_stealing scheduler set up on each thread, which the
// other peers do not ask of their users: every test uses one thread.
#include <unistd.h>

#include <atomic>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace bf = boost::fibers;
using Clock = std::chrono::steady_clock;

static void emit(const char* exp, const char* metric, double v, const char* unit, long n,
                 const std::string& m) {
  std::printf(
      "{\"experiment\":\"%s\",\"impl\":\"boost-fiber\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":"
      "\"%s\",\"n\":%ld,"
      "\"method\":\"%s, Boost %d.%d\"}\n",
      exp, metric, v, unit, n, m.c_str(), BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000);
}
static double rss() {
  long t = 0, r = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &t, &r) != 2) r = 0;
    std::fclose(f);
  }
  return double(r) * sysconf(_SC_PAGESIZE);
}
static double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

static void test_rss(long n) {
  bf::promise<void> gate;
  bf::shared_future<void> g = gate.get_future().share();
  long parked = 0;
  std::vector<bf::fiber> fs;
  fs.reserve(n);
  double r0 = rss();
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i)
    fs.emplace_back([&parked, g] {
      ++parked;
      g.wait();
    });
  while (parked < n) boost::this_fiber::yield();
  double el = ns_since(t0);
  double r1 = rss();
  gate.set_value();
  for (auto& f : fs) f.join();
  std::string m =
      "RSS (/proc/self/statm) after N fibers parked on a shared_future minus before, 1 thread, "
      "default stacks";
  emit("rss", "rss_per_task", (r1 - r0) / double(n), "B", n, m);
  emit("rss", "rss_delta", r1 - r0, "B", n, m);
  emit("rss", "spawn_park_time", el / double(n), "ns", n,
       "time to spawn N and see all parked, per task");
}

static void test_seq(long n) {
  auto pass = [n] {
    long s = 0;
    for (long i = 0; i < n; ++i) {
      bf::fiber f([&s, i] { s += i + 1; });
      f.join();
    }
    return s;
  };
  auto t0 = Clock::now();
  pass();
  double cold = ns_since(t0);
  t0 = Clock::now();
  pass();
  double warm = ns_since(t0);
  emit("spawn_seq", "time_per_op", warm / double(n), "ns", n,
       "launch a fiber, join it, N times, 1 thread, warm (second pass)");
  emit("spawn_seq", "time_per_op_cold", cold / double(n), "ns", n,
       "launch a fiber, join it, N times, 1 thread, cold (first pass)");
}

static void test_conc(const char* name, long n) {
  std::atomic<long> counter{0};
  auto pass = [&] {
    auto t0 = Clock::now();
    std::vector<bf::fiber> fs;
    fs.reserve(n);
    for (long i = 0; i < n; ++i)
      fs.emplace_back([&counter] { counter.fetch_add(1, std::memory_order_relaxed); });
    for (auto& f : fs) f.join();
    return ns_since(t0) / 1e6;
  };
  double cold = pass();
  double warm = pass();
  emit(name, "total_time", cold, "ms", n,
       "launch N fibers (each increments an atomic), join all, 1 thread, first pass (cold)");
  emit(name, "total_time_warm", warm, "ms", n,
       "launch N fibers, join all, 1 thread, second pass (warm)");
}

static void test_yield(long n) {
  long k = n / 2;
  auto body = [k] {
    for (long i = 0; i < k; ++i) boost::this_fiber::yield();
  };
  auto t0 = Clock::now();
  bf::fiber a(body), b(body);
  a.join();
  b.join();
  emit("yield", "time_per_yield", ns_since(t0) / double(2 * k), "ns", n,
       "two fibers call boost::this_fiber::yield, 1 thread");
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  std::string t = argv[1];
  long n = std::atol(argv[2]);
  if (t == "rss")
    test_rss(n);
  else if (t == "spawn_seq")
    test_seq(n);
  else if (t == "spawn_conc" || t == "spawn_inc")
    test_conc(argv[1], n);
  else if (t == "yield")
    test_yield(n);
  else
    return 2;
  return 0;
}

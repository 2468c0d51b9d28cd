// The Asio peer: the lab's shared tests with standalone Asio's C++20
// coroutines (awaitable + co_spawn) on one io_context thread, as JSONL.
//
//   asio-peer rss|spawn_seq|spawn_conc|spawn_inc|yield N
//
// Parking: N coroutines wait on one steady_timer that never expires; cancel()
// releases them all (a timer supports many outstanding waits). Yield:
// co_await asio::post(executor). One thread: an io_context run by several
// threads would need strands for the same guarantees.
#include <unistd.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

static void emit(const char* exp, const char* metric, double v, const char* unit, long n,
                 const std::string& m) {
  std::printf(
      "{\"experiment\":\"%s\",\"impl\":\"asio\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\","
      "\"n\":%ld,"
      "\"method\":\"%s, Asio %d.%d.%d\"}\n",
      exp, metric, v, unit, n, m.c_str(), ASIO_VERSION / 100000, ASIO_VERSION / 100 % 1000,
      ASIO_VERSION % 100);
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

static long parked = 0;
awaitable<void> waiter(asio::steady_timer& gate) {
  ++parked;
  asio::error_code ec;
  co_await gate.async_wait(asio::redirect_error(use_awaitable, ec));
}

static void test_rss(long n) {
  asio::io_context ctx(1);
  asio::steady_timer gate(ctx, asio::steady_timer::time_point::max());
  double r0 = rss(), r1 = 0, el = 0;
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) asio::co_spawn(ctx, waiter(gate), asio::detached);
  asio::co_spawn(
      ctx,
      [&]() -> awaitable<void> {
        while (parked < n) co_await asio::post(ctx, use_awaitable);
        el = ns_since(t0);
        r1 = rss();
        gate.cancel();
      },
      asio::detached);
  ctx.run();
  std::string m =
      "RSS (/proc/self/statm) after N coroutines parked on one steady_timer minus before, 1 thread";
  emit("rss", "rss_per_task", (r1 - r0) / double(n), "B", n, m);
  emit("rss", "rss_delta", r1 - r0, "B", n, m);
  emit("rss", "spawn_park_time", el / double(n), "ns", n,
       "time to spawn N and see all parked, per task");
}

awaitable<long> child(long i) {
  co_return i + 1;
}

static void test_seq(long n) {
  asio::io_context ctx(1);
  double cold = 0, warm = 0;
  asio::co_spawn(
      ctx,
      [&]() -> awaitable<void> {
        for (int pass = 0; pass < 2; ++pass) {
          auto t0 = Clock::now();
          long s = 0;
          for (long i = 0; i < n; ++i) s += co_await asio::co_spawn(ctx, child(i), use_awaitable);
          (pass == 0 ? cold : warm) = ns_since(t0);
        }
      },
      asio::detached);
  ctx.run();
  emit("spawn_seq", "time_per_op", warm / double(n), "ns", n,
       "co_spawn a child, co_await it, N times, 1 thread, warm (second pass)");
  emit("spawn_seq", "time_per_op_cold", cold / double(n), "ns", n,
       "co_spawn a child, co_await it, N times, 1 thread, cold (first pass)");
}

static void test_conc(const char* name, long n) {
  double times[2];
  for (int pass = 0; pass < 2; ++pass) {
    asio::io_context ctx(1);
    long counter = 0, done = 0;
    auto t0 = Clock::now();
    for (long i = 0; i < n; ++i)
      asio::co_spawn(
          ctx,
          [&]() -> awaitable<void> {
            ++counter;
            co_return;
          },
          [&](std::exception_ptr) { ++done; });
    ctx.run();  // returns when all N have completed
    times[pass] = ns_since(t0) / 1e6;
  }
  emit(name, "total_time", times[0], "ms", n,
       "co_spawn N (each increments a counter), run until all complete, 1 thread, first pass");
  emit(name, "total_time_warm", times[1], "ms", n, "the same, second pass (fresh io_context)");
}

static void test_yield(long n) {
  asio::io_context ctx(1);
  long k = n / 2;
  auto body = [&]() -> awaitable<void> {
    for (long i = 0; i < k; ++i) co_await asio::post(ctx, use_awaitable);
  };
  auto t0 = Clock::now();
  asio::co_spawn(ctx, body, asio::detached);
  asio::co_spawn(ctx, body, asio::detached);
  ctx.run();
  emit("yield", "time_per_yield", ns_since(t0) / double(2 * k), "ns", n,
       "two coroutines co_await asio::post(executor), 1 thread");
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

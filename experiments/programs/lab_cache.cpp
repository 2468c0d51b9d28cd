// lab_cache: cost per switch as the number of live tasks cycled through grows
// past L1, L2 and L3 (claims K1-K3), for the bare mechanisms:
//
//   stackless   N C++20 coroutine frames resumed round-robin
//   fiber       N Boost.Context fcontext fibers on 16 KiB stacks (the
//               source's figure), switched round-robin from a loop
//
// each with a per-task buffer of `touch` bytes that lives across the suspend
// point (in the frame, or on the fiber's stack) and is read and written, one
// access per 64-byte line, at every resume: touch 0 is the mechanism alone,
// a larger touch models a task that uses its state.
//
// Hardware counters: perf_event_open is probed first; where it works, LLC
// misses per switch are reported beside the timing (method perf_event_open).
// Where it does not (this VM), the runner simulates the cache with valgrind's
// cachegrind on one reduced N (--point mode below) and says so.
//
//   exp_lab_cache [--variants stackless,fiber] [--touch 0,1024] [--max-n N]
//                 [--min-switches S]
//   exp_lab_cache --point stackless|fiber --n N --touch T --rounds R
//                 (no output: a fixed amount of work for cachegrind)
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <coroutine>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lab.hpp"

namespace ctx = boost::context::detail;

namespace {

constexpr std::size_t kFiberStack = 16 * 1024;

// ---- hardware counters -------------------------------------------------------

int perf_open(std::uint32_t type, std::uint64_t config) {
  perf_event_attr a{};
  a.size = sizeof(a);
  a.type = type;
  a.config = config;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  return static_cast<int>(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
}

struct Counter {
  int fd = -1;
  Counter() { fd = perf_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES); }
  ~Counter() {
    if (fd >= 0) close(fd);
  }
  [[nodiscard]] bool ok() const { return fd >= 0; }
  void start() const {
    ioctl(fd, PERF_EVENT_IOC_RESET, 0);
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  }
  [[nodiscard]] std::uint64_t stop() const {
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    std::uint64_t v = 0;
    if (read(fd, &v, sizeof v) != sizeof v) v = 0;
    return v;
  }
};

inline void touch_lines(volatile char* buf, int bytes) {
  for (int i = 0; i < bytes; i += 64) buf[i] = static_cast<char>(buf[i] + 1);
}

// ---- stackless ---------------------------------------------------------------

std::size_t last_frame = 0;
struct Coro {
  struct promise_type {
    static void* operator new(std::size_t n) {
      last_frame = n;
      return ::operator new(n);
    }
    static void operator delete(void* p) noexcept { ::operator delete(p); }
    Coro get_return_object() {
      return Coro{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::abort(); }
  };
  std::coroutine_handle<promise_type> h;
};

template <int T>
Coro task_body() {
  // `buf` lives across the suspend point, so it is in the frame.
  volatile char buf[T > 0 ? T : 1];
  for (;;) {
    if constexpr (T > 0) touch_lines(buf, T);
    co_await std::suspend_always{};
  }
}

Coro make_coro(int touch) {
  switch (touch) {
    case 0:
      return task_body<0>();
    case 256:
      return task_body<256>();
    case 1024:
      return task_body<1024>();
    case 2048:
      return task_body<2048>();
    default:
      return task_body<4096>();
  }
}

// ---- fibers -------------------------------------------------------------------

template <int T>
void fiber_body(ctx::transfer_t t) {
  volatile char buf[T > 0 ? T : 1];
  for (;;) {
    if constexpr (T > 0) touch_lines(buf, T);
    t = ctx::jump_fcontext(t.fctx, nullptr);
  }
}
using FiberEntry = void (*)(ctx::transfer_t);
FiberEntry fiber_entry(int touch) {
  switch (touch) {
    case 0:
      return &fiber_body<0>;
    case 256:
      return &fiber_body<256>;
    case 1024:
      return &fiber_body<1024>;
    case 2048:
      return &fiber_body<2048>;
    default:
      return &fiber_body<4096>;
  }
}

/// N tasks of one kind, ready to be cycled through.
struct Ring {
  std::string kind;
  int touch;
  std::vector<std::coroutine_handle<>> coros;
  std::vector<ctx::fcontext_t> fibers;
  char* region = nullptr;
  std::size_t region_size = 0;
  std::size_t bytes_per_task = 0;

  Ring(const std::string& k, long n, int t) : kind(k), touch(t) {
    long long rss0 = lab::rss_bytes();
    if (kind == "stackless") {
      coros.reserve(n);
      for (long i = 0; i < n; ++i) {
        coros.push_back(make_coro(touch).h);
        coros.back().resume();  // runs to its first suspend: frame warm, buffer touched
      }
    } else {
      region_size = kFiberStack * static_cast<std::size_t>(n);
      region = static_cast<char*>(mmap(nullptr, region_size, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
      if (region == MAP_FAILED) std::abort();
      fibers.reserve(n);
      FiberEntry e = fiber_entry(touch);
      for (long i = 0; i < n; ++i) {
        char* top = region + kFiberStack * static_cast<std::size_t>(i + 1);
        fibers.push_back(ctx::jump_fcontext(ctx::make_fcontext(top, kFiberStack, e), nullptr).fctx);
      }
    }
    bytes_per_task = static_cast<std::size_t>((lab::rss_bytes() - rss0) / std::max(1L, n));
  }
  ~Ring() {
    for (auto h : coros) h.destroy();
    if (region != nullptr) munmap(region, region_size);
  }
  /// `rounds` passes over all tasks; returns the number of switches.
  long cycle(long rounds) {
    long n =
        kind == "stackless" ? static_cast<long>(coros.size()) : static_cast<long>(fibers.size());
    if (kind == "stackless") {
      for (long r = 0; r < rounds; ++r)
        for (auto h : coros) h.resume();
    } else {
      for (long r = 0; r < rounds; ++r)
        for (auto& f : fibers) f = ctx::jump_fcontext(f, nullptr).fctx;
    }
    return rounds * n;
  }
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    if (q > p) out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  lab::pin_to(0);
  if (!args.get("point", "").empty()) {
    Ring ring(args.get("point", ""), args.num("n", 1000), static_cast<int>(args.num("touch", 0)));
    ring.cycle(args.num("rounds", 10));
    return 0;
  }
  auto variants = split(args.get("variants", "stackless,fiber"));
  auto touches = args.nums("touch", {0, 1024});
  long max_n = args.num("max-n", 262144);
  long min_switches = args.num("min-switches", 2'000'000);

  Counter hw;
  lab::emit("cache_sweep", "probe", "hw_counters", hw.ok() ? 1 : 0, "bool", -1,
            hw.ok() ? "perf_event_open(PERF_COUNT_HW_CACHE_MISSES) opened"
                    : std::string("perf_event_open failed: ") + std::strerror(errno));
  for (const auto& v : variants) {
    for (long long t : touches) {
      for (long n = 1; n <= max_n; n *= 4) {
        Ring ring(v, n, static_cast<int>(t));
        long rounds = std::max(3L, min_switches / n);
        ring.cycle(std::max(1L, rounds / 10));  // warm: every task visited at least once more
        std::string metric = "time_per_switch.touch" + std::to_string(t);
        auto t0 = lab::Clock::now();
        if (hw.ok()) hw.start();
        long sw = ring.cycle(rounds);
        std::uint64_t misses = hw.ok() ? hw.stop() : 0;
        double ns = lab::ns_since(t0) / static_cast<double>(sw);
        lab::emit("cache_sweep", v, metric, ns, "ns", n,
                  "round-robin over N live tasks, " + std::to_string(t) +
                      " B touched per resume, timing (steady_clock)");
        if (n == max_n || n == 1 || n == 1024)
          lab::emit(
              "cache_sweep", v, "bytes_per_task.touch" + std::to_string(t),
              static_cast<double>(v == "stackless" ? last_frame : ring.bytes_per_task), "B", n,
              v == "stackless" ? "coroutine frame size (operator new argument)"
                               : "RSS growth per fiber at creation (16 KiB stacks, pages touched)");
        if (hw.ok())
          lab::emit("cache_sweep", v, "llc_misses_per_switch.touch" + std::to_string(t),
                    static_cast<double>(misses) / static_cast<double>(sw), "misses", n,
                    "perf_event_open");
      }
    }
  }
  return 0;
}

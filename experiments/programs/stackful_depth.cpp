// stackful_depth: how deep a fiber can recurse (claim S8, M8), per stack
// strategy, with frames that hold L bytes of locals.
//
// Each run is a child process that recurses until the guard page stops it
// (duet reports the overflow and aborts); the depth reached is kept in
// shared memory. Bytes per frame are measured from the stack pointer. A
// last run recurses through exactly --target frames (default 1,000,000) of
// 64-byte locals on a lazy stack with a large reservation and reports the
// RSS it committed.
//
//   exp_stackful_depth [--locals 0,16,64] [--lazy-reserve 8388608,1073741824]
//                      [--target 1000000] [--target-reserve 268435456]
#include <atomic>
#include <csignal>

#include "stackful_common.hpp"

namespace {

struct Shared {
  std::atomic<long> depth{0};
  std::atomic<long> frame_bytes{0};
  long long rss = 0;
  bool done = false;
};
Shared* g = nullptr;
long g_limit = 0;  // stop here (0: until the guard page)
char* g_top_sp = nullptr;

/// Out of line so that its file read does not inflate every frame of dive.
[[gnu::noinline]] long at_limit() {
  g->rss = lab::rss_bytes();
  return 0;
}

template <int L>
[[gnu::noinline]] long dive(long d) {
  // L bytes of locals the optimizer must keep (volatile), as in a real frame.
  [[maybe_unused]] volatile char pad[L == 0 ? 1 : L];
  if constexpr (L > 0) pad[0] = static_cast<char>(d);
  g->depth.store(d, std::memory_order_relaxed);
  if (d == 1) {
    char here;
    g_top_sp = &here;
  } else if (d == 2) {
    char here;
    g->frame_bytes.store(g_top_sp - &here, std::memory_order_relaxed);
  }
  if (g_limit != 0 && d >= g_limit) return at_limit();
  long r = dive<L>(d + 1);
  // An empty asm after the call: without it GCC turns `dive(d + 1) + 1`
  // into a loop (tail recursion with an accumulator) and never overflows.
  asm volatile("" : "+r"(r)::"memory");
  if constexpr (L > 0) return r + pad[0];
  return r + 1;  // not a tail call
}

long run(int locals, long d) {
  switch (locals) {
    case 0:
      return dive<0>(d);
    case 16:
      return dive<16>(d);
    case 32:
      return dive<32>(d);
    default:
      return dive<64>(d);
  }
}

void child(duet::StackStrategy s, std::size_t size, int locals, long limit) {
  ::signal(SIGABRT, SIG_DFL);
  int devnull = open("/dev/null", O_WRONLY);
  if (devnull >= 0) dup2(devnull, STDERR_FILENO);  // the overflow report
  g_limit = limit;
  duet::Runtime rt(sx::workers(1));
  rt.block_on(duet::stackful({.strategy = s, .stack_size = size}), [locals] { run(locals, 1); });
  g->done = true;
}

}  // namespace

int main(int argc, char** argv) {
  sx::Args a(argc, argv);
  g = sx::shared_slots<Shared>(1);
  const auto locals = a.list("--locals", "0,16,64");
  const auto lazy_sizes = a.list("--lazy-reserve", "8388608,1073741824");
  struct Config {
    duet::StackStrategy s;
    std::size_t size;
  };
  std::vector<Config> configs = {{duet::StackStrategy::pooled, 64 << 10},
                                 {duet::StackStrategy::copy, 0}};
  for (long long sz : lazy_sizes)
    configs.push_back({duet::StackStrategy::lazy, static_cast<std::size_t>(sz)});
  for (const Config& c : configs) {
    const std::size_t size =
        c.s == duet::StackStrategy::copy ? duet::stack_tuning().shared_stack_bytes : c.size;
    for (long long l : locals) {
      new (g) Shared{};
      int st = sx::in_child([&] { child(c.s, c.size, static_cast<int>(l), 0); });
      const std::string impl = std::string("duet-") + sx::name(c.s);
      const std::string method = "recursion with " + std::to_string(l) +
                                 " bytes of volatile locals until the guard page; stack " +
                                 std::to_string(size) + " bytes; " +
                                 (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT
                                      ? "stopped by duet's overflow report"
                                      : "ended otherwise: status " + std::to_string(st));
      lab::emit("stackful_depth", impl, "max_depth_locals_" + std::to_string(l),
                static_cast<double>(g->depth.load()), "frames", static_cast<long long>(size),
                method);
      lab::emit("stackful_depth", impl, "frame_bytes_locals_" + std::to_string(l),
                static_cast<double>(g->frame_bytes.load()), "bytes", static_cast<long long>(size),
                "stack pointer difference between two frames (-O2 build)");
    }
  }
  const long target = std::atol(a.get("--target", "1000000").c_str());
  const auto reserve =
      static_cast<std::size_t>(std::atoll(a.get("--target-reserve", "268435456").c_str()));
  new (g) Shared{};
  auto t0 = lab::Clock::now();
  int st = sx::in_child([&] { child(duet::StackStrategy::lazy, reserve, 64, target); });
  const double ms = lab::ns_since(t0) / 1e6;
  const bool ok = g->done && WIFEXITED(st);
  lab::emit(
      "stackful_depth", "duet-lazy", "reached_target_depth_locals_64", ok ? 1 : 0, "bool", target,
      "lazy stack reserving " + std::to_string(reserve) + " bytes; recursion to the target depth");
  lab::emit("stackful_depth", "duet-lazy", "rss_at_target_depth", static_cast<double>(g->rss),
            "bytes", target, "VmRSS of the whole process at the deepest frame (first touch: cold)");
  lab::emit("stackful_depth", "duet-lazy", "time_to_target_depth", ms, "ms", target,
            "child process wall time incl. runtime start (page faults dominate)");
  return 0;
}

// lab_switch: the bare mechanisms under a task switch, without a scheduler
// (claims S1, S2, S4), each timed as a ping-pong so that both directions are
// paid. One record per mechanism: time per cycle (there and back) and per
// switch (one direction, cycle / 2).
//
//   coro_resume      C++20 coroutine: handle.resume() + co_await suspend_always
//                    (a call and a return through the frame: S2)
//   asm_6regs        a hand-written x86-64 switch that saves exactly the six
//                    callee-saved registers and swaps rsp (S1's "registers" +
//                    "stack-pointer swap" parts, nothing else). It ends in a
//                    `ret` to an address the return-stack buffer did not push,
//                    so every switch also pays a return misprediction; fcontext
//                    avoids that with `pop; jmp`. The two together isolate the
//                    pipeline-refill part from the register part.
//   fcontext         Boost.Context jump_fcontext (what duet's fibers use: the
//                    six registers, rsp, plus the x87 control word and MXCSR)
//   fcontext_xsave   fcontext + XSAVE/XRSTOR of the whole dirty SIMD state per
//                    switch (what a switch would cost if it saved SIMD state,
//                    S1's "SIMD state" part; fcontext does not, because the
//                    SysV ABI makes every vector register caller-saved)
//   xsave_xrstor     the SIMD part alone: one XSAVE + XRSTOR pair, AVX state dirty
//   fxsave_fxrstor   legacy x87/SSE state save + restore
//   swapcontext      glibc ucontext (adds a sigprocmask system call per switch)
//   mispredict       S1's "pipeline flush": 64 fibers suspended at 16 different
//                    code sites resumed in random order, minus the same with one
//                    site (the indirect jump of the switch always predicted);
//                    both stay in L1/L2, so the difference is the misprediction
//   futex_same_cpu   two threads pinned to one CPU hand a token through a futex:
//                    each handoff is a kernel context switch (S4)
//   futex_cross_cpu  the same across two CPUs: wake-up of a sleeping CPU
//
//   exp_lab_switch [--scale F]   (F multiplies the iteration counts)
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cpuid.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/context/detail/fcontext.hpp>
#include <coroutine>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "lab.hpp"

namespace ctx = boost::context::detail;

namespace {

double scale = 1.0;
long iters(long base) {
  return std::max(1000L, static_cast<long>(static_cast<double>(base) * scale));
}

void report(const char* impl, double ns_per_cycle, long cycles, const char* method) {
  lab::emit("switch_bare", impl, "time_per_cycle", ns_per_cycle, "ns", cycles, method);
  lab::emit("switch_bare", impl, "time_per_switch", ns_per_cycle / 2, "ns", cycles, method);
}

/// Best of `reps` timings of f(n) (ns per iteration): the floor of the
/// mechanism on a shared machine; the runner repeats the whole program and
/// reports the median of these floors.
template <class F>
double best_of(int reps, long n, F&& f) {
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    auto t0 = lab::Clock::now();
    f(n);
    best = std::min(best, lab::ns_since(t0) / static_cast<double>(n));
  }
  return best;
}

// ---- coroutine_handle::resume --------------------------------------------

struct Loop {
  struct promise_type {
    Loop get_return_object() {
      return Loop{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::abort(); }
  };
  std::coroutine_handle<promise_type> h;
};
volatile long sink = 0;
Loop looping() {
  for (;;) {
    sink = sink + 1;
    co_await std::suspend_always{};
  }
}

void bench_coro() {
  Loop l = looping();
  auto h = l.h;
  double ns = best_of(5, iters(20'000'000), [h](long n) {
    for (long i = 0; i < n; ++i) h.resume();
  });
  h.destroy();
  report("coro_resume", ns, iters(20'000'000),
         "coroutine_handle::resume + suspend_always, best of 5");
}

// ---- minimal asm switch -----------------------------------------------------

extern "C" void lab_switch6(void** save_sp, void* new_sp);
asm(R"(
  .text
  .globl lab_switch6
  .type lab_switch6,@function
lab_switch6:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size lab_switch6, .-lab_switch6
)");

void* main_sp = nullptr;
void* co_sp = nullptr;
[[noreturn]] void asm_entry() {
  for (;;) {
    sink = sink + 1;
    lab_switch6(&co_sp, main_sp);
  }
}

struct MappedStack {
  char* base;
  std::size_t size;
  explicit MappedStack(std::size_t s) : size(s) {
    base = static_cast<char*>(
        mmap(nullptr, s, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base == MAP_FAILED) std::abort();
  }
  ~MappedStack() { munmap(base, size); }
  [[nodiscard]] char* top() const { return base + size; }
};

void bench_asm() {
  MappedStack st(64 * 1024);
  auto* sp = reinterpret_cast<std::uintptr_t*>(st.top());
  *--sp = 0;                                             // fake return address
  *--sp = reinterpret_cast<std::uintptr_t>(&asm_entry);  // where the first ret goes
  for (int i = 0; i < 6; ++i) *--sp = 0;                 // the six registers
  co_sp = sp;
  double ns = best_of(5, iters(20'000'000), [](long n) {
    for (long i = 0; i < n; ++i) lab_switch6(&main_sp, co_sp);
  });
  report("asm_6regs", ns, iters(20'000'000),
         "hand-written switch: 6 callee-saved registers + rsp, best of 5");
}

// ---- fcontext --------------------------------------------------------------

void fctx_entry(ctx::transfer_t t) {
  for (;;) {
    sink = sink + 1;
    t = ctx::jump_fcontext(t.fctx, nullptr);
  }
}

// XSAVE area: size for the state enabled in XCR0 (CPUID.(EAX=0DH,ECX=0):EBX).
unsigned xsave_size() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(0xD, 0, &a, &b, &c, &d)) return 0;
  return b;
}
bool have_xsave() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  return (c & (1u << 27)) != 0;  // OSXSAVE
}
alignas(64) unsigned char xsave_area[16384];
alignas(16) unsigned char fx_area[512];

inline void dirty_simd() {
  // Leave non-init values in the vector registers (ymm when the CPU has
  // AVX2), so that XSAVE's init/modified optimisations cannot skip them.
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) {
    asm volatile("vpcmpeqd %%ymm1, %%ymm1, %%ymm1\n\tvpcmpeqd %%ymm2, %%ymm2, %%ymm2" ::
                     : "xmm1", "xmm2");
  } else {
    asm volatile("pcmpeqd %%xmm1, %%xmm1" ::: "xmm1");
  }
#endif
}
inline void xsave_pair() {
  asm volatile("xsave64 (%0)\n\txrstor64 (%0)" ::"r"(xsave_area), "a"(0xffffffffu), "d"(0xffffffffu)
               : "memory");
}

void fctx_xsave_entry(ctx::transfer_t t) {
  for (;;) {
    dirty_simd();
    xsave_pair();
    t = ctx::jump_fcontext(t.fctx, nullptr);
  }
}

void bench_fcontext() {
  MappedStack st(64 * 1024);
  ctx::fcontext_t c = ctx::make_fcontext(st.top(), st.size, &fctx_entry);
  ctx::transfer_t t = ctx::jump_fcontext(c, nullptr);
  double ns = best_of(5, iters(10'000'000), [&t](long n) {
    for (long i = 0; i < n; ++i) t = ctx::jump_fcontext(t.fctx, nullptr);
  });
  report("fcontext", ns, iters(10'000'000), "Boost.Context jump_fcontext ping-pong, best of 5");

  if (!have_xsave() || xsave_size() > sizeof(xsave_area)) return;
  lab::emit("switch_bare", "xsave_xrstor", "xsave_area", xsave_size(), "B", -1,
            "CPUID.(EAX=0DH,ECX=0):EBX: XSAVE area for the state enabled in XCR0");
  double x = best_of(5, iters(2'000'000), [](long n) {
    for (long i = 0; i < n; ++i) {
      dirty_simd();
      xsave_pair();
    }
  });
  lab::emit("switch_bare", "xsave_xrstor", "time_per_pair", x, "ns", iters(2'000'000),
            "XSAVE64 + XRSTOR64 of all XCR0 state, AVX registers dirty, best of 5");
  double fx = best_of(5, iters(2'000'000), [](long n) {
    for (long i = 0; i < n; ++i) {
      dirty_simd();
      asm volatile("fxsave64 (%0)\n\tfxrstor64 (%0)" ::"r"(fx_area) : "memory");
    }
  });
  lab::emit("switch_bare", "fxsave_fxrstor", "time_per_pair", fx, "ns", iters(2'000'000),
            "FXSAVE64 + FXRSTOR64 (x87/SSE state, 512 B), best of 5");

  MappedStack st2(64 * 1024);
  ctx::fcontext_t c2 = ctx::make_fcontext(st2.top(), st2.size, &fctx_xsave_entry);
  ctx::transfer_t t2 = ctx::jump_fcontext(c2, nullptr);
  double nsx = best_of(5, iters(2'000'000), [&t2](long n) {
    for (long i = 0; i < n; ++i) {
      dirty_simd();
      xsave_pair();
      t2 = ctx::jump_fcontext(t2.fctx, nullptr);
    }
  });
  report("fcontext_xsave", nsx, iters(2'000'000),
         "jump_fcontext ping-pong with XSAVE+XRSTOR of the dirty SIMD state on each switch, best "
         "of 5");
}

// ---- branch misprediction (the "pipeline flush" part) -----------------------

template <int Site>
void site_entry(ctx::transfer_t t) {
  for (;;) {
    sink = sink + Site;
    t = ctx::jump_fcontext(t.fctx, nullptr);
  }
}
using Entry = void (*)(ctx::transfer_t);
template <int... I>
constexpr std::array<Entry, sizeof...(I)> entries(std::integer_sequence<int, I...>) {
  return {&site_entry<I>...};
}

double run_sites(bool many_sites, const std::vector<std::uint8_t>& order, int reps) {
  constexpr int fibers = 64;
  static constexpr auto table = entries(std::make_integer_sequence<int, 16>{});
  std::vector<std::unique_ptr<MappedStack>> stacks;
  std::vector<ctx::fcontext_t> fc(fibers);
  for (int i = 0; i < fibers; ++i) {
    stacks.push_back(std::make_unique<MappedStack>(16 * 1024));
    Entry e = many_sites ? table[i % 16] : table[0];
    fc[i] =
        ctx::jump_fcontext(ctx::make_fcontext(stacks.back()->top(), 16 * 1024, e), nullptr).fctx;
  }
  long n = static_cast<long>(order.size());
  return best_of(reps, n, [&](long m) {
    for (long i = 0; i < m; ++i) {
      std::uint8_t k = order[i];
      fc[k] = ctx::jump_fcontext(fc[k], nullptr).fctx;
    }
  });
}

void bench_mispredict() {
  long n = iters(2'000'000);
  std::vector<std::uint8_t> order(n);
  std::mt19937 rng(42);
  for (auto& o : order) o = static_cast<std::uint8_t>(rng() % 64);
  double one = run_sites(false, order, 5);
  double many = run_sites(true, order, 5);
  lab::emit("switch_bare", "mispredict", "cycle_one_site", one, "ns", n,
            "64 fcontext fibers, random order, all suspended at one code site, best of 5");
  lab::emit("switch_bare", "mispredict", "cycle_16_sites", many, "ns", n,
            "64 fcontext fibers, random order, suspended at 16 code sites, best of 5");
  lab::emit("switch_bare", "mispredict", "mispredict_cost", many - one, "ns", n,
            "difference: indirect-jump misprediction (pipeline refill) per cycle, timing");
}

// ---- swapcontext ------------------------------------------------------------

ucontext_t uc_main, uc_co;
void uc_entry() {
  for (;;) {
    sink = sink + 1;
    swapcontext(&uc_co, &uc_main);
  }
}
void bench_swapcontext() {
  MappedStack st(64 * 1024);
  getcontext(&uc_co);
  uc_co.uc_stack.ss_sp = st.base;
  uc_co.uc_stack.ss_size = st.size;
  uc_co.uc_link = nullptr;
  makecontext(&uc_co, &uc_entry, 0);
  double ns = best_of(5, iters(1'000'000), [](long n) {
    for (long i = 0; i < n; ++i) swapcontext(&uc_main, &uc_co);
  });
  report("swapcontext", ns, iters(1'000'000),
         "glibc swapcontext ping-pong (saves signal mask: a syscall), best of 5");
}

// ---- futex ping-pong between two threads ------------------------------------

long futex(std::atomic<int>* addr, int op, int val) {
  return syscall(SYS_futex, reinterpret_cast<int*>(addr), op, val, nullptr, nullptr, 0);
}

double futex_pingpong(int cpu_a, int cpu_b, long rounds) {
  std::atomic<int> turn{0};
  auto player = [&](int me, int cpu) {
    lab::pin_to(cpu);
    for (long i = 0; i < rounds; ++i) {
      while (turn.load(std::memory_order_acquire) != me) futex(&turn, FUTEX_WAIT_PRIVATE, 1 - me);
      turn.store(1 - me, std::memory_order_release);
      futex(&turn, FUTEX_WAKE_PRIVATE, 1);
    }
  };
  auto t0 = lab::Clock::now();
  std::thread b(player, 1, cpu_b);
  player(0, cpu_a);
  b.join();
  return lab::ns_since(t0) / static_cast<double>(rounds);  // one round = two handoffs
}

void bench_futex() {
  long rounds = iters(100'000);
  unsigned ncpu = std::thread::hardware_concurrency();
  double best = 1e300;
  for (int r = 0; r < 3; ++r) best = std::min(best, futex_pingpong(0, 0, rounds));
  report("futex_same_cpu", best, rounds,
         "two threads pinned to CPU 0 hand a token through FUTEX_WAIT/WAKE: a kernel context "
         "switch per handoff, best of 3");
  if (ncpu >= 2) {
    best = 1e300;
    // A cross-CPU handoff wakes an idle vCPU (tens of us in a VM): fewer rounds.
    long cross = std::max(1000L, rounds / 10);
    for (int r = 0; r < 3; ++r) best = std::min(best, futex_pingpong(0, 1, cross));
    report("futex_cross_cpu", best, cross,
           "two threads pinned to CPUs 0 and 1 hand a token through FUTEX_WAIT/WAKE (wake-up of a "
           "sleeping CPU), best of 3");
  }
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  scale = std::atof(args.get("scale", "1").c_str());
  lab::pin_to(0);
  bench_coro();
  bench_asm();
  bench_fcontext();
  bench_mispredict();
  bench_swapcontext();
  bench_futex();
  return 0;
}

// lab_frames: what a suspended task is made of (claims M2, M8, M9, R5).
//
//   frame sizes   the size g++ gives the coroutine frames of typical bodies,
//                 read from the argument of the promise's operator new (the
//                 number Zig's @sizeOf(@Frame(f)) would give): compile-time
//                 constants, one per function (M2, M8)
//   duet sizes    sizeof the task header, the waker, a poll task; the frame
//                 and the one block of the lab's parked stackless task (M2, R5)
//   allocations   operator new calls per spawn+join in a steady state, per
//                 backend, from the counting allocator (M9); and the time of a
//                 coroutine create+destroy with frames from malloc against a
//                 free-list pool (M9: what the pool removes)
//   overflow      a fiber stack too small for its work: a child process runs
//                 a Boost.Context fiber on a 16 KiB guarded stack that recurses
//                 64 KiB deep, and its fate is reported (M8)
//
//   depth         recursion depth reached on an 8 MiB guarded fiber stack (S8)
//
//   exp_lab_frames [--n N]
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <alloc_tracker.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <coroutine>
#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "lab_gate.hpp"

namespace {

// ---- compiler frame sizes --------------------------------------------------

std::size_t frame_bytes = 0;
bool pooled = false;
std::vector<void*> pool_64;  // a one-class free list, enough for this test

struct Rec {
  struct promise_type {
    static void* operator new(std::size_t n) {
      frame_bytes = n;
      if (pooled && n <= 64 && !pool_64.empty()) {
        void* p = pool_64.back();
        pool_64.pop_back();
        return p;
      }
      return std::malloc(pooled ? 64 : n);
    }
    static void operator delete(void* p, std::size_t n) noexcept {
      if (pooled && n <= 64) {
        pool_64.push_back(p);
        return;
      }
      std::free(p);
    }
    Rec get_return_object() {
      return Rec{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::abort(); }
  };
  std::coroutine_handle<promise_type> h;
  ~Rec() {
    if (h) h.destroy();
  }
};

// The frame g++ gives the lab's parked stackless task (lab_duet's
// parked_task: a Task<void> that awaits a GateWait) with duet's own promise:
// a promise type derived from it only to read operator new's argument (the
// layout is duet's: same size, same awaiters). A spawned task is this frame
// plus the header room in front of it (duet/stackless/coro_task.hpp).
struct DuetSized {
  struct promise_type : duet::detail::Promise<void> {
    static void* operator new(std::size_t n) {
      frame_bytes = n;
      return std::malloc(n);
    }
    static void operator delete(void* p, std::size_t) noexcept { std::free(p); }
    DuetSized get_return_object() {
      return DuetSized{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
  };
  std::coroutine_handle<promise_type> h;
  ~DuetSized() {
    if (h) h.destroy();
  }
};

DuetSized duet_parked_body(lab::Gate* g) {
  co_await lab::GateWait(g);
}

volatile int sink = 0;

Rec empty_body() {
  co_return;
}
Rec one_suspend() {
  int x = sink;
  co_await std::suspend_always{};
  sink = x;
}
Rec buffer_64() {
  char buf[64];
  for (char& c : buf) c = static_cast<char>(sink);
  co_await std::suspend_always{};
  sink = buf[7];
}
Rec buffer_4k_live() {
  char buf[4096];
  for (char& c : buf) c = static_cast<char>(sink);
  co_await std::suspend_always{};
  sink = buf[4000];
}
Rec buffer_4k_dead() {  // the buffer is dead at the suspend point
  {
    char buf[4096];
    for (char& c : buf) c = static_cast<char>(sink);
    sink = buf[4000];
  }
  co_await std::suspend_always{};
}
Rec three_suspends() {
  long a = sink, b = sink * 2;
  co_await std::suspend_always{};
  a += b;
  co_await std::suspend_always{};
  b += a;
  co_await std::suspend_always{};
  sink = static_cast<int>(a + b);
}

template <class F>
void frame_of(const char* name, F f) {
  frame_bytes = 0;
  { Rec r = f(); }
  std::size_t first = frame_bytes;
  { Rec r = f(); }
  lab::emit("frames", "g++", std::string("frame_size.") + name, static_cast<double>(first), "B", -1,
            "argument of promise_type::operator new (compiler-computed frame size)");
  if (frame_bytes != first) std::fprintf(stderr, "frame size of %s changed between calls\n", name);
}

// ---- malloc vs pool --------------------------------------------------------

double create_destroy_ns(bool use_pool, long n) {
  pooled = use_pool;
  pool_64.clear();
  for (int i = 0; i < 16; ++i) pool_64.push_back(std::malloc(64));
  double best = 1e300;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = lab::Clock::now();
    for (long i = 0; i < n; ++i) {
      Rec r = one_suspend();
      r.h.resume();
    }
    best = std::min(best, lab::ns_since(t0) / double(n));
  }
  for (void* p : pool_64) std::free(p);
  pool_64.clear();
  pooled = false;
  return best;
}

// ---- duet: allocations per spawn in a steady state -------------------------

duet::Task<int> child(int i) {
  co_return i + 1;
}
struct ReadyPoll {
  int v;
  duet::Poll<int> poll(duet::Context&) { return v + 1; }
};

duet::Task<long> spawn_loop(long n, int kind) {
  long s = 0;
  for (long i = 0; i < n; ++i) {
    if (kind == 0)
      s += co_await duet::spawn(child(static_cast<int>(i)));
    else
      s += co_await duet::spawn(ReadyPoll{static_cast<int>(i)});
  }
  co_return s;
}
long spawn_loop_fiber(long n) {
  long s = 0;
  for (long i = 0; i < n; ++i)
    s += duet::spawn(duet::stackful, [i] { return static_cast<int>(i + 1); }).join();
  return s;
}

void allocs_per_spawn(long n) {
  duet::Runtime rt({.workers = 1, .placement = duet::Placement::compact});
  const char* names[] = {"stackless", "poll", "fiber"};
  for (int kind = 0; kind < 3; ++kind) {
    auto run = [&] {
      if (kind == 2) return rt.spawn(duet::stackful, [n] { return spawn_loop_fiber(n); }).join();
      return rt.spawn(spawn_loop(n, kind)).join();
    };
    run();  // warm: fills the block cache and the stack pool
    auto a0 = duet::test::alloc_counts();
    run();
    auto a1 = duet::test::alloc_counts();
    double per = double(a1.news - a0.news - 2) / double(n);  // 2: the root task itself
    if (per < 0) per = 0;
    lab::emit("frames", std::string("duet-") + names[kind], "allocs_per_spawn", per, "allocs", n,
              "operator new calls per spawn+await (counting allocator), steady state, 1 worker");
  }
}

// ---- stack overflow on a guarded fiber stack ----------------------------------

int recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  if (depth == 0) return pad[0];
  return recurse(depth - 1) + pad[0];
}

void overflow_demo() {
  pid_t pid = fork();
  if (pid == 0) {
    namespace bc = boost::context;
    bc::fiber f(std::allocator_arg, bc::protected_fixedsize_stack(16 * 1024), [](bc::fiber&& main) {
      sink = recurse(128);  // ~64 KiB of frames on a 16 KiB stack
      return std::move(main);
    });
    std::move(f).resume();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  double sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  lab::emit(
      "frames", "boost-context", "overflow_signal", sig, "signal", -1,
      "child process: fiber on a 16 KiB protected_fixedsize_stack (guard page) recursing ~64 KiB; "
      "11 = SIGSEGV at the guard page, 0 = survived");
}

// ---- recursion depth on an 8 MiB fiber stack (S8) ---------------------------

long* depth_reached = nullptr;  // shared with the parent (MAP_SHARED)
const char* lowest = nullptr;
const char* highest = nullptr;

__attribute__((noinline)) long dive(long d) {
  volatile char here = 0;
  if ((d & 1023) == 0) {
    *depth_reached = d;
    lowest = const_cast<const char*>(&here);
  }
  if (highest == nullptr) highest = const_cast<const char*>(&here);
  return dive(d + 1) + here;  // not a tail call: one frame per level
}

void depth_demo() {
  depth_reached = static_cast<long*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  long* frame_bytes_shared = depth_reached + 1;
  pid_t pid = fork();
  if (pid == 0) {
    namespace bc = boost::context;
    bc::fiber f(std::allocator_arg, bc::protected_fixedsize_stack(8 * 1024 * 1024),
                [&](bc::fiber&& main) {
                  struct sigaction sa {};
                  sa.sa_handler = SIG_DFL;
                  sigaction(SIGSEGV, &sa, nullptr);
                  // Record the frame size once, from two depths.
                  *frame_bytes_shared = 0;
                  sink = static_cast<int>(dive(0));
                  return std::move(main);
                });
    std::move(f).resume();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  long depth = *depth_reached;
  lab::emit("frames", "boost-context", "max_depth_8MiB", double(depth), "frames", -1,
            "child process: recursion in a fiber on an 8 MiB protected_fixedsize_stack until the "
            "guard page "
            "faults (a non-tail-recursive function with one volatile char)");
  if (depth > 0)
    lab::emit("frames", "boost-context", "frame_bytes_8MiB", 8.0 * 1024 * 1024 / double(depth), "B",
              -1, "8 MiB / depth reached: bytes per frame of that function");
  munmap(depth_reached, 4096);
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  long n = args.num("n", 100000);
  lab::pin_to(0);
  frame_of("empty", empty_body);
  frame_of("one_suspend_int", one_suspend);
  frame_of("buffer_64B_live", buffer_64);
  frame_of("buffer_4KiB_live", buffer_4k_live);
  frame_of("buffer_4KiB_dead_at_suspend", buffer_4k_dead);
  frame_of("three_suspends", three_suspends);

  lab::emit("frames", "duet", "sizeof_task_header", sizeof(duet::detail::TaskHeader), "B", -1,
            "sizeof");
  lab::emit("frames", "duet", "sizeof_waker", sizeof(duet::Waker), "B", -1, "sizeof(duet::Waker)");
  lab::emit("frames", "duet", "sizeof_poll_task_gate",
            sizeof(duet::detail::PollTask<lab::GateWait>), "B", -1,
            "sizeof(PollTask<GateWait>): header + future + outcome in one block");

  {
    lab::Gate g;
    DuetSized t = duet_parked_body(&g);
    const std::size_t block = duet::detail::frame_head + frame_bytes;
    lab::emit(
        "frames", "duet", "stackless_parked_frame", double(frame_bytes), "B", -1,
        "g++ frame of lab_duet's parked_task (awaits a 40-byte GateWait) with duet's promise");
    lab::emit("frames", "duet", "stackless_parked_block",
              double((block + duet::detail::block_align - 1) / duet::detail::block_align *
                     duet::detail::block_align),
              "B", -1,
              "the spawned task's one block: header room + that frame, in the block cache's "
              "64-byte classes");
  }

  double m = create_destroy_ns(false, n * 10);
  double p = create_destroy_ns(true, n * 10);
  lab::emit("frames", "malloc", "create_resume_destroy", m, "ns", n * 10,
            "bare coroutine create + resume + destroy, frame from malloc, best of 5");
  lab::emit("frames", "pool", "create_resume_destroy", p, "ns", n * 10,
            "bare coroutine create + resume + destroy, frame from a free list, best of 5");

  allocs_per_spawn(n / 10 > 100 ? n / 10 : 100);
  overflow_demo();
  depth_demo();
  return 0;
}

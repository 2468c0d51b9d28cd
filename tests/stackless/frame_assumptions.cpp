// frame_assumptions.cpp: the three compiler assumptions the one-block
// coroutine task rests on (duet/stackless/detail/frame.hpp states them), checked
// in a program of its own so that tests/stackless/CMakeLists.txt can build
// it with every compiler a user may use (GCC, clang-14, clang-16) at -O0
// and -O2, and run it:
//   1. coroutine_handle::address() is the pointer the promise's operator
//      new returned;
//   2. the frame begins with two resume pointers, the first the resume
//      function of its coroutine, then the promise (PromiseBase first), and
//      the size operator delete receives covers both (duet's own Task
//      promises);
//   3. a frame whose handle escapes (as a spawned Task's does) is never
//      elided: operator new runs once per coroutine, at every optimisation.
// Prints "frame assumptions hold" and exits 0, or names the broken one and
// exits 1.
#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "duet/stackless/task.hpp"

namespace {

int g_failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("broken: %s\n", what);
    ++g_failures;
  }
}

// A coroutine type whose promise allocates as duet's Task promise does
// (its own operator new and sized delete) and records what it was given.
struct Probe {
  struct promise_type;
  using handle = std::coroutine_handle<promise_type>;
  struct promise_type {
    static inline void* last_new = nullptr;
    static inline std::size_t last_new_size = 0;
    static inline std::size_t last_delete_size = 0;
    static inline int news = 0;
    static void* operator new(std::size_t n) {
      ++news;
      last_new_size = n;
      last_new = ::operator new(n);
      return last_new;
    }
    static void operator delete(void* p, std::size_t n) noexcept {
      last_delete_size = n;
      ::operator delete(p);
    }
    long payload[4] = {1, 2, 3, 4};
    Probe get_return_object() { return Probe{handle::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::abort(); }
  };
  handle h;
};

Probe probe(int x) {
  volatile int local = x;
  (void)local;
  co_return;
}

// Where a spawn puts a Task's handle: somewhere the compiler cannot see
// through.
void* volatile g_escaped = nullptr;

[[gnu::noinline]] void escape(std::coroutine_handle<> h) {
  g_escaped = h.address();
}

// The spawn's shape: the function that makes the coroutine hands its handle
// away and never destroys it; the scheduler's side destroys it, elsewhere.
// (clang's heap elision removes the allocation of a coroutine whose creator
// destroys it on every path, even when the handle escapes meanwhile: a test
// that created, escaped and destroyed in one function saw no operator new
// at -O2.)
[[gnu::noinline]] Probe::handle make_escaped() {
  Probe p = probe(7);
  escape(p.h);
  return p.h;
}

[[gnu::noinline]] void finish_elsewhere(Probe::handle h) {
  h.resume();
  h.destroy();
}

void check_probe() {
  const int before = Probe::promise_type::news;
  Probe::handle h = make_escaped();
  expect(Probe::promise_type::news == before + 1,
         "3: a coroutine whose handle escapes was allocated by its operator new");
  expect(h.address() == Probe::promise_type::last_new,
         "1: coroutine_handle::address() is the pointer operator new returned");
  expect(
      reinterpret_cast<char*>(&h.promise()) == static_cast<char*>(h.address()) + 2 * sizeof(void*),
      "2: the promise follows the frame's two resume pointers");
  const std::size_t allocated = Probe::promise_type::last_new_size;
  finish_elsewhere(h);
  expect(Probe::promise_type::last_delete_size == allocated,
         "2: operator delete receives the size operator new was asked for");
  expect(allocated >= 2 * sizeof(void*) + sizeof(Probe::promise_type),
         "2: the frame holds the resume pointers and the promise");
}

duet::Task<void> task_void() {
  co_return;
}
duet::Task<int> task_int(int x) {
  co_return x;
}
duet::Task<std::string> task_string() {
  co_return std::string(64, 'x');
}
duet::Task<std::array<long, 40>> task_big() {
  co_return std::array<long, 40>{};
}

// duet's own promises: the layout the ended frame's outcome relies on.
template <class T>
[[gnu::noinline]] void destroy_elsewhere(typename duet::Task<T>::handle_type h) {
  h.destroy();
}

template <class T>
void check_task(duet::Task<T> t, const char* what) {
  auto h = t.release();
  escape(h);
  const bool follows =
      reinterpret_cast<char*>(&h.promise()) == static_cast<char*>(h.address()) + 2 * sizeof(void*);
  if (!follows) std::printf("(%s)\n", what);
  expect(follows, "2: duet's Task promise follows the frame's two resume pointers");
  // The dump's async backtrace reads a frame's link through PromiseBase at
  // promise_offset, whatever the promise type.
  auto& base = static_cast<duet::detail::PromiseBase&>(h.promise());
  expect(reinterpret_cast<char*>(&base) ==
             static_cast<char*>(h.address()) + duet::detail::promise_offset,
         "2: PromiseBase begins duet's Task promise, at promise_offset");
  alignas(64) int parent_frame_stand_in = 0;
  base.set_parent(std::coroutine_handle<>::from_address(&parent_frame_stand_in));
  expect(duet::detail::PromiseBase::link_in_frame(h.address()) ==
             reinterpret_cast<std::uintptr_t>(&parent_frame_stand_in),
         "2: link_in_frame reads the link set_parent wrote");
  destroy_elsewhere<T>(h);
}

// The first word of a frame is its resume function: the same for two
// frames of one coroutine, another for another coroutine (the dump names
// each frame by it).
void check_resume_functions() {
  auto a = task_int(1).release();
  auto b = task_int(2).release();
  auto c = task_void().release();
  escape(a);
  escape(b);
  escape(c);
  const void* fa = duet::detail::resume_function_of(a.address());
  expect(fa != nullptr && fa == duet::detail::resume_function_of(b.address()),
         "2: two frames of one coroutine begin with the same resume function");
  expect(fa != duet::detail::resume_function_of(c.address()),
         "2: frames of two coroutines begin with different resume functions");
  destroy_elsewhere<int>(a);
  destroy_elsewhere<int>(b);
  destroy_elsewhere<void>(c);
}

}  // namespace

int main() {
  check_probe();
  check_task(task_void(), "Task<void>");
  check_task(task_int(1), "Task<int>");
  check_task(task_string(), "Task<std::string>");
  check_task(task_big(), "Task<std::array<long, 40>>");
  check_resume_functions();
  if (g_failures != 0) return 1;
  std::printf("frame assumptions hold\n");
  return 0;
}

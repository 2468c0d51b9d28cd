// overflow.cpp: a fiber that runs into its guard page is reported, never
// silently continued: the guard-page SIGSEGV handler and the alternate
// signal stacks it runs on.
//
// A SIGSEGV handler (installed once, when the first stack is mapped) runs
// on an alternate signal stack (installed on each thread before it first
// enters a fiber: the faulting stack has no room left). It looks at the
// fiber that the faulting thread runs; when the fault address lies in that
// fiber's guard page (or up to 64 KiB below it, where a large frame that
// skipped the guard lands), it prints the fiber, its strategy, its stack
// size and its spawn site, then aborts. Any other SIGSEGV goes to the
// handler that was installed before (or the default action).
//
// Its callers (overflow.hpp): stack_map.cpp installs the handler when it
// maps its first stacks, and fiber.cpp's ensure_alt_stack calls
// give_alt_stack on a thread's first fiber entry.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>

#include "copy_stack.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/thread_local.hpp"
#include "duet/stackful/fiber.hpp"
#include "overflow.hpp"

namespace duet::detail {
namespace {

// 64 KiB: the handler formats into a small buffer, but a sanitizer's
// handler that we chain to needs more than SIGSTKSZ.
constexpr std::size_t alt_stack_bytes = std::size_t{64} << 10;
// A frame bigger than a page can step over the guard: accept faults this
// far below it as overflows too (the region below is usually unmapped).
constexpr std::uintptr_t below_guard_slack = std::uintptr_t{64} << 10;

struct sigaction g_previous {};

/// Async-signal-safe formatting into a fixed buffer.
struct Line {
  char buf[1024];
  std::size_t n = 0;
  void put(const char* s) noexcept {
    while (s != nullptr && *s != '\0' && n < sizeof buf) buf[n++] = *s++;
  }
  void num(std::uintptr_t v, unsigned base = 10) noexcept {
    char tmp[24];
    int i = 0;
    do {
      tmp[i++] = "0123456789abcdef"[v % base];
      v /= base;
    } while (v != 0 && i < 24);
    if (base == 16) put("0x");
    while (i > 0 && n < sizeof buf) buf[n++] = tmp[--i];
  }
  void flush() noexcept {
    std::size_t off = 0;
    while (off < n) {
      ssize_t w = write(STDERR_FILENO, buf + off, n - off);
      if (w <= 0) break;
      off += static_cast<std::size_t>(w);
    }
  }
};

/// The stack the fiber runs on (its own, or its shared stack).
const Stack* running_stack(const FiberBase* f) noexcept {
  if (f->strategy == StackStrategy::copy)
    return f->copy.shared != nullptr ? &f->copy.shared->mem : nullptr;
  return &f->stack;
}

[[noreturn]] void report(const FiberBase* f, const Stack& s, std::uintptr_t addr) noexcept {
  Line l;
  l.put("duet: stack overflow in fiber ");
  l.num(reinterpret_cast<std::uintptr_t>(f), 16);
  if (f->name != nullptr) {
    l.put(" \"");
    l.put(f->name);
    l.put("\"");
  }
  l.put(": strategy ");
  l.put(duet::to_string(f->strategy).data());
  l.put(", stack ");
  l.num(s.usable());
  l.put(" bytes, fault at ");
  l.num(addr, 16);
  l.put(" (guard page ");
  l.num(reinterpret_cast<std::uintptr_t>(s.base), 16);
  l.put("); spawned at ");
  if (f->site_file != nullptr) {
    l.put(f->site_file);
    l.put(":");
    l.num(f->site_line);
  } else {
    l.put("(unknown: spawn with duet::stackful({...}) to record it)");
  }
  l.put(f->strategy == StackStrategy::copy ? "\nduet: raise StackTuning::shared_stack_bytes (copy "
                                             "fibers share their worker's stack)\n"
                                           : "\nduet: give it a larger stack_size, or "
                                             "StackStrategy::lazy with a larger reservation\n");
  l.flush();
  // abort() raises SIGABRT, which the handler does not catch.
  std::abort();
}

void on_segv(int sig, siginfo_t* info, void* uctx) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  TaskHeader* t = current_task();
  if (t != nullptr && t->vtable->kind == TaskKind::fiber) {
    const auto* f = static_cast<const FiberBase*>(t);
    const Stack* s = running_stack(f);
    if (s != nullptr && s->guard() != 0) {
      const auto lo = reinterpret_cast<std::uintptr_t>(s->base);
      const auto hi = lo + s->guard();
      if (addr < hi && addr + below_guard_slack >= lo) report(f, *s, addr);
    }
  }
  // Not ours: hand it on.
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, uctx);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
      g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default action: reinstall it and return; the faulting instruction
  // runs again and the kernel kills the process (with a core, if enabled).
  ::signal(sig, SIG_DFL);
}

/// An alternate signal stack owned by its thread; disabled before it is
/// unmapped at thread exit.
struct AltStack {
  void* mem = nullptr;
  ~AltStack() {
    if (mem == nullptr) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, nullptr);
    munmap(mem, alt_stack_bytes);
  }
};
thread_local AltStack tl_alt;

}  // namespace

void install_overflow_handler() noexcept {
  // Installs ours unless it is already there, chaining to whatever was
  // installed before. Checked again by every thread that enters a fiber
  // (ensure_alt_stack): another library, or a test framework, may have put
  // its own handler back since.
  static std::mutex mu;
  std::lock_guard lk(mu);
  struct sigaction cur {};
  if (sigaction(SIGSEGV, nullptr, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) != 0 &&
      cur.sa_sigaction == &on_segv) {
    return;
  }
  struct sigaction sa {};
  sa.sa_sigaction = &on_segv;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &sa, &g_previous);
}

DUET_TLS constinit bool tl_alt_stack_tried = false;

void give_alt_stack() noexcept {
  tl_alt_stack_tried = true;
  install_overflow_handler();
  stack_t cur{};
  if (sigaltstack(nullptr, &cur) == 0 && (cur.ss_flags & SS_DISABLE) == 0 &&
      cur.ss_size >= (std::size_t{16} << 10)) {
    return;  // the thread has one (a sanitizer runtime installs its own)
  }
  void* p =
      mmap(nullptr, alt_stack_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;  // overflows then die by plain SIGSEGV
  stack_t ss{};
  ss.ss_sp = p;
  ss.ss_size = alt_stack_bytes;
  if (sigaltstack(&ss, nullptr) != 0) {
    munmap(p, alt_stack_bytes);
    return;
  }
  tl_alt.mem = p;
}

}  // namespace duet::detail

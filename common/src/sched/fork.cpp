// fork.cpp: the forked child's mark (duet/detail/fork.hpp). A pthread_atfork
// child handler, registered once before duet's first thread starts, sets it
// in the child; the refusal writes its message with write(2) alone, since
// the child may hold no lock another thread held at the fork.
#include "duet/detail/fork.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace duet::detail {
namespace {

// Relaxed: set in the child by the only thread it has, before any other
// code of the child runs; read by that thread (and threads it starts).
std::atomic<bool> g_forked_child{false};

void on_fork_child() noexcept {
  g_forked_child.store(true, std::memory_order_relaxed);
}

}  // namespace

void fork_guard_arm() noexcept {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, &on_fork_child); });
}

bool in_forked_child() noexcept {
  return g_forked_child.load(std::memory_order_relaxed);
}

void refuse_in_forked_child(const char* use) noexcept {
  const char* parts[] = {"duet: ", use,
                         " in the child of a fork(): the runtime's threads were not copied; a "
                         "forked child may exec, exit or destroy the runtimes it inherited "
                         "(duet/detail/fork.hpp)\n"};
  for (const char* p : parts) {
    for (std::size_t n = std::strlen(p); n > 0;) {
      const ssize_t w = ::write(STDERR_FILENO, p, n);
      if (w <= 0) break;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  std::abort();
}

}  // namespace duet::detail

// coro_thread.cpp: the one definition of the coroutine run state's
// thread-local (duet/detail/coro_thread.hpp), and its out-of-line accessors.
#include "duet/detail/coro_thread.hpp"

#include <cstdio>
#include <cstdlib>

namespace duet::detail {

constinit DUET_TLS CoroThread tl_coro{};

CoroThread& coro_thread_opaque() noexcept {
  asm volatile("" ::: "memory");  // impure: never merged with another call
  return tl_coro;
}

void foreign_coro_thread(const CoroThread* used) noexcept {
  std::fprintf(stderr,
               "duet: coroutine: an inline path used the run state at %p, not this thread's at %p "
               "(a thread-local address kept across a suspend)\n",
               static_cast<const void*>(used), static_cast<const void*>(&tl_coro));
  std::abort();
}

}  // namespace duet::detail

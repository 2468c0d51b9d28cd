// coro_library.cpp: the shared object of tests/stackless/cross_object_test.cpp
// (coro_library.hpp).
#include "coro_library.hpp"

#include <duet/yield.hpp>

namespace coro_library {
namespace {

duet::Task<long> add(long sum, int term) {
  co_await duet::yield_now();
  co_return sum + term;
}

}  // namespace

duet::Task<long> sum_with_yields(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) {
    co_await duet::yield_now();
    sum = co_await add(sum, i);
  }
  co_return sum;
}

const void* run_state_address() noexcept {
  return &duet::detail::coro_thread();
}

}  // namespace coro_library

// coro_library.hpp: coroutines compiled into a shared object of their own,
// as a user's library of Tasks is, for tests/stackless/cross_object_test.cpp.
#pragma once

#include <duet/stackless/task.hpp>

#define DUET_CORO_LIBRARY_API __attribute__((visibility("default")))

namespace coro_library {

/// The sum 0 + 1 + ... + (n - 1), a yield between terms and the terms
/// added by a child coroutine of the library's own: every step an awaiter
/// of the library's code reads the run the program's task set.
DUET_CORO_LIBRARY_API duet::Task<long> sum_with_yields(int n);

/// The address of this object's view of the thread's coroutine run state
/// (the same as the program's when there is one definition of it).
DUET_CORO_LIBRARY_API const void* run_state_address() noexcept;

}  // namespace coro_library

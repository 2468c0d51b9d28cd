// duet/stackful/fiber.hpp: stackful tasks: fibers on their own stacks,
// scheduled by the same workers as coroutines.
//
// Example (fiber):
//   auto other = rt.spawn(duet::stackful, [] { return 1; });
//   auto h = rt.spawn(duet::stackful, [&] {
//     int v = other.join();        // parks this fiber, not the worker
//     duet::this_fiber::yield();   // lets the others run
//     return v + 1;
//   });
//   auto fn = [] { return 0; };
//   auto big = rt.spawn(duet::stackful({.stack_size = 1 << 20}), fn);
//   auto deep = rt.spawn(duet::stackful({.strategy = duet::StackStrategy::lazy,
//                                        .stack_size = 256 << 20}), fn);
//   auto tiny = rt.spawn(duet::stackful({.strategy = duet::StackStrategy::copy}), fn);
//
// A fiber can wait on anything a coroutine can (duet::wait(op), or
// handle.join()), from any call depth. Its stack comes from the strategy
// that the options or RuntimeConfig::fiber_stack_strategy name
// (duet/stackful/stack.hpp describes them), and only while it can run:
//   - the task block (header, function, outcome) is a heap block, made at
//     spawn: a fiber spawned but not started yet holds no stack.
//   - the stack is taken at its first run, from the running worker's cache
//     (hot: its pages are already faulted in), and given back to that cache
//     the moment the fiber finishes, before anyone joins it. A million
//     short fibers spawned at once and joined later therefore need only as
//     many stacks as run at the same time (docs/stackful.md, "Why fibers
//     had a cliff").
// When no stack can be had (vm.max_map_count, RLIMIT_AS, out of memory)
// the fiber never runs and ends with that StackError: join() rethrows it.
// Invalid options (a stack_size over max_fiber_stack) throw at spawn.
//
// Copy fibers (StackStrategy::copy) run on their worker's shared stack; the
// bytes they use are copied out when they suspend and back, to the same
// addresses, when they resume. The rule this imposes: while a copy fiber is
// suspended, nothing outside it may hold a pointer into its stack. Waiting on
// a join handle or yielding is fine (the waker lives in the task); an
// operation that links a node that lives inside it into a shared list
// (an intrusive waiter in a mutex, channel or timer) must not live on the
// stack: use duet::this_fiber::wait_off_stack(op), which moves the operation
// to the heap first. docs/stackful.md says what is enforced.
//
// Switching uses Boost.Context's fcontext contexts (make_fcontext, and a
// jump_fcontext of its own on x86-64: stackful/src/switch.hpp) directly, so
// that every switch, the first entry and the final exit included, carries
// the ASan and TSan fiber annotations. A fiber that parks, yields or
// finishes while its worker's next task is a fiber jumps straight into it:
// one switch, not two through the worker loop (docs/architecture.md,
// "Direct hand-off"). A yield with nothing else to run returns at once.
//
// Cancellation (JoinHandle::cancel, runtime shutdown) unwinds the stack:
// the fiber's pending wait throws duet::detail::FiberUnwind, which is not a
// std::exception. A `catch (...)` in fiber code must rethrow it.
#pragma once

#include "duet/export.hpp"

#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>

#include "duet/join_handle.hpp"
#include "duet/poll.hpp"
#include "duet/runtime.hpp"
#include "duet/stackful/detail/fiber_task.hpp"
#include "duet/stackful/options.hpp"
#include "duet/wait.hpp"

namespace duet {

namespace detail {
/// Spawns `fn` on a fiber. Throws std::invalid_argument for options out of
/// range; a stack that cannot be had at the first run ends the fiber with a
/// StackError, which join() rethrows.
/// `submit` hands the task to the scheduler (SubmitAnywhere, or
/// SubmitPinned: duet::pinned). Internal: each spawn_on takes its way
/// through it.
template <class Submit, class Fn>
requires std::invocable < std::decay_t<Fn>
& > JoinHandle<std::invoke_result_t<std::decay_t<Fn>&>> spawn_via(Submit submit, Runtime& rt,
                                                                  const Stackful& s, Fn&& fn) {
  using F = std::decay_t<Fn>;
  using T = std::invoke_result_t<F&>;
  using FT = FiberTask<F, T>;
  const FiberPlace p = fiber_place(rt, s.options, sizeof(FT));
  FT* t = nullptr;
  try {
    t = std::construct_at(static_cast<FT*>(p.mem), F(std::forward<Fn>(fn)), p, s);
  } catch (...) {
    fiber_unplace(p, sizeof(FT));
    throw;
  }
  submit(p.sched, t);
  return JoinHandle<T>(t);
}
}  // namespace detail

/// Spawns `fn` on a fiber (detail::spawn_via, to be run anywhere).
template <class Fn>
requires std::invocable < std::decay_t<Fn>
& > JoinHandle<std::invoke_result_t<std::decay_t<Fn>&>> spawn_on(Runtime& rt, const Stackful& s,
                                                                 Fn&& fn) {
  return spawn_via(detail::SubmitAnywhere{}, rt, s, std::forward<Fn>(fn));
}

namespace this_fiber {
/// True when the caller runs on a duet fiber.
DUET_API bool is_fiber() noexcept;
/// Gives the other runnable tasks a turn (throws std::logic_error when not
/// on a fiber).
DUET_API void yield();
/// True when `p` points into the calling fiber's stack (its own, or the
/// shared stack a copy fiber runs on). A library that links a node into a
/// list shared with other tasks can assert !points_into_stack(&node) to
/// catch the one misuse of copy fibers (see above).
DUET_API bool points_into_stack(const void* p) noexcept;
/// True when the calling fiber is a copy fiber.
DUET_API bool is_copy_fiber() noexcept;

/// duet::wait(op) with `op` moved to the heap first, so that nothing
/// outside the fiber points into its stack while it waits. duet::wait does
/// this by itself for an rvalue `op` on a copy fiber; use this for an lvalue
/// one. On a copy fiber the operation is moved from, lvalue or not (futures
/// are move-only, and a copy would wait for something else): it must not
/// have been polled yet, and the caller's object is left moved-from. Costs
/// one allocation; on other fibers it is just duet::wait(op).
template <Future F>
future_output_t<std::remove_cvref_t<F>> wait_off_stack(F&& op) {
  using Op = std::remove_cvref_t<F>;
  static_assert(std::is_move_constructible_v<Op>, "wait_off_stack moves the operation to the heap");
  if (!is_copy_fiber()) return duet::wait(op);
  auto boxed = std::make_unique<Op>(std::move(op));  // NOLINT(bugprone-move-forwarding-reference)
  return duet::wait(*boxed);
}
}  // namespace this_fiber

}  // namespace duet

// duet/stackful/fiber.hpp: stackful tasks: fibers on their own stacks,
// scheduled by the same workers as coroutines.
//
//   auto h = rt.spawn(duet::stackful, [&] {
//     int v = other.join();        // parks this fiber, not the worker
//     duet::this_fiber::yield();   // lets the others run
//     return v + 1;
//   });
//   auto big = rt.spawn(duet::stackful({.stack_size = 1 << 20}), fn);
//
// A fiber can wait on anything a coroutine can (duet::wait(op), or
// handle.join()), from any call depth. The stack is taken from a pool at
// spawn (so a StackError is thrown to the spawner, not later), and returned
// as soon as the fiber finishes.
//
// Switching uses Boost.Context's fcontext primitives (make_fcontext /
// jump_fcontext: the assembly under boost::context::fiber), so that every
// switch, the first entry and the final exit included, carries the ASan and
// TSan fiber annotations; docs/architecture.md says why.
//
// Cancellation (JoinHandle::cancel, runtime shutdown) unwinds the stack:
// the fiber's pending wait throws duet::detail::FiberUnwind, which is not a
// std::exception. A `catch (...)` in fiber code must rethrow it.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "duet/detail/block_cache.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/poll_task.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/join_handle.hpp"
#include "duet/outcome.hpp"
#include "duet/stackful/stack.hpp"

namespace duet {
class Runtime;

/// Per-spawn fiber options.
struct FiberOptions {
  /// Usable stack bytes; 0 takes RuntimeConfig::fiber_stack_size.
  std::size_t stack_size = 0;
  /// A PROT_NONE page below the stack turns an overflow into a fault.
  bool guard = true;
};

/// The tag that selects the stackful backend at spawn:
/// `rt.spawn(duet::stackful, fn)` or `rt.spawn(duet::stackful(opts), fn)`.
struct Stackful {
  FiberOptions options{};
  constexpr Stackful operator()(FiberOptions o) const noexcept { return Stackful{o}; }
};
inline constexpr Stackful stackful{};

namespace detail {

/// Thrown inside a fiber to unwind it when it is cancelled.
struct FiberUnwind {};

struct FiberBase : TaskHeader {
  FiberBase(const TaskVTable* vt, Stack s, void (*b)(FiberBase*)) noexcept
      : TaskHeader(vt), stack(s), body(b) {}

  void* ctx = nullptr;     // the fiber's saved context while it is suspended
  void* caller = nullptr;  // the worker's saved context while the fiber runs
  Stack stack;
  void (*body)(FiberBase*);
  RunResult reason = RunResult::pending;  // why it switched out
  bool finished = false;
  bool unwinding = false;  // cancellation requested: waits throw FiberUnwind
  bool unwound = false;    // FiberUnwind reached the entry
  // Sanitizer bookkeeping (unused in plain builds; kept so that the layout
  // does not depend on build flags).
  void* asan_fake = nullptr;
  const void* caller_bottom = nullptr;
  std::size_t caller_size = 0;
  void* tsan_fiber = nullptr;
  void* tsan_caller = nullptr;
};

/// Vtable entries shared by all fibers (stackful/src/fiber.cpp).
RunResult fiber_run(TaskHeader* t);
void fiber_block(TaskHeader* t);
/// Unwinds a started fiber (or releases the stack of one that never ran).
/// True when the fiber ended by cancellation.
bool fiber_unwind(FiberBase* f) noexcept;

template <class Fn, class T>
struct FiberTask final : FiberBase, TaskOps<FiberTask<Fn, T>> {
  FiberTask(Fn&& f, Stack s) : FiberBase(&vtable, s, &run_body) {
    std::construct_at(&fn, std::move(f));
  }
  ~FiberTask() {
    destroy_fn();
    if (stack) stack_release(std::exchange(stack, Stack{}));
  }
  void destroy_fn() noexcept {
    if (fn_live) {
      fn_live = false;
      std::destroy_at(&fn);
    }
  }

  static void run_body(FiberBase* b) {
    auto* self = static_cast<FiberTask*>(b);
    try {
      if constexpr (std::is_void_v<T>) {
        std::invoke(self->fn);
        self->out.set_value();
      } else {
        self->out.set_value(std::invoke(self->fn));
      }
    } catch (const FiberUnwind&) {
      self->destroy_fn();
      throw;
    } catch (...) {
      self->out.set_exception(std::current_exception());
    }
    self->destroy_fn();  // captures die on the fiber, where they lived
  }

  static void cancel(TaskHeader* h) noexcept {
    auto* self = static_cast<FiberTask*>(h);
    bool cancelled = fiber_unwind(self);
    self->destroy_fn();
    if (cancelled || !self->out.has_value()) self->out.set_cancelled();
  }

  static constexpr TaskVTable vtable{TaskKind::stackful,
                                     &fiber_run,
                                     &cancel,
                                     &TaskOps<FiberTask>::destroy,
                                     &TaskOps<FiberTask>::outcome,
                                     &TaskOps<FiberTask>::drop_outcome,
                                     &fiber_block};

  union {
    Fn fn;
  };
  bool fn_live = true;
  Outcome<T> out;
};

Scheduler* scheduler_of(Runtime& rt) noexcept;

}  // namespace detail

/// Spawns `fn` on a fiber. Throws StackError when no stack can be mapped.
template <class Fn>
  requires std::invocable<std::decay_t<Fn>&>
JoinHandle<std::invoke_result_t<std::decay_t<Fn>&>> spawn_on(Runtime& rt, Stackful s, Fn&& fn) {
  using F = std::decay_t<Fn>;
  using T = std::invoke_result_t<F&>;
  using FT = detail::FiberTask<F, T>;
  detail::Scheduler* sched = detail::scheduler_of(rt);
  std::size_t size = s.options.stack_size != 0 ? s.options.stack_size
                                                 : detail::default_fiber_stack(sched);
  detail::Stack stack = detail::stack_acquire(size, s.options.guard);
  void* mem = nullptr;
  try {
    mem = detail::block_alloc(sizeof(FT));
    auto* t = std::construct_at(static_cast<FT*>(mem), F(std::forward<Fn>(fn)), stack);
    detail::submit_new(sched, t);
    return JoinHandle<T>(t);
  } catch (...) {
    if (mem != nullptr) detail::block_free(mem, sizeof(FT));
    detail::stack_release(stack);
    throw;
  }
}

namespace this_fiber {
/// True when the caller runs on a duet fiber.
bool is_fiber() noexcept;
/// Gives the other runnable tasks a turn (throws std::logic_error when not
/// on a fiber).
void yield();
}  // namespace this_fiber

}  // namespace duet

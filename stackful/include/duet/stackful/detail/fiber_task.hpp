// duet/stackful/detail/fiber_task.hpp: a fiber's task block, its layout
// and its vtables (FiberBase, FiberTask), and the placement a spawn makes
// (fiber_place). Not part of the API: the spawn templates of
// duet/stackful/fiber.hpp need the block's type, so the header is
// installed, and nothing here is for a user's code to name or touch; its
// layout may change in any release.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "duet/config.hpp"
#include "duet/detail/block_cache.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/poll_task.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/join_handle.hpp"
#include "duet/outcome.hpp"
#include "duet/poll.hpp"
#include "duet/runtime.hpp"
#include "duet/stackful/options.hpp"
#include "duet/stackful/stack.hpp"
#include "duet/wait.hpp"

namespace duet {

namespace detail {

/// Thrown inside a fiber to unwind it when it is cancelled.
struct FiberUnwind {};

struct SharedStack;  // stackful/src/copy_stack.hpp

/// A new fiber's task block (a heap block) and the stack it will take at
/// its first run (strategy and usable bytes, resolved at spawn).
struct FiberPlace {
  void* mem = nullptr;
  Stack stack;  // held only between the first run and the finish
  StackStrategy strategy = StackStrategy::pooled;
  bool measure = false;           // canary-measured (the option, or every fiber's)
  std::uint32_t stack_bytes = 0;  // usable bytes to acquire (0 for copy fibers)
  Scheduler* sched = nullptr;
};
/// duet::set_stack_measurement's switch (high_water.cpp). Relaxed: a knob.
DUET_API extern std::atomic<bool> g_measure_all;
/// StackTuning::lazy_reserve_bytes, a lazy fiber's default reserve.
DUET_API std::size_t lazy_reserve_default() noexcept;
[[noreturn]] DUET_API void throw_stack_too_big();

/// Resolves the options against the runtime's defaults and allocates a task
/// block of `task_size` bytes. Throws std::invalid_argument for options out
/// of range, std::bad_alloc. Inline, so that a spawn resolves its options in
/// registers rather than through a struct in memory.
inline FiberPlace fiber_place(Runtime& rt, const FiberConfig& o, std::size_t task_size) {
  const RuntimeConfig& cfg = rt.config();
  FiberPlace p;
  p.strategy = o.strategy.value_or(cfg.fiber_stack_strategy);
  p.measure = o.measure_stack || g_measure_all.load(std::memory_order_relaxed);
  p.sched = scheduler_of(rt);
  if (p.strategy != StackStrategy::copy) {
    std::size_t size = o.stack_size;
    if (size == 0) {
      size = p.strategy == StackStrategy::lazy ? lazy_reserve_default() : cfg.fiber_stack_size;
    }
    // Checked here, so that the spawner hears of it: a stack that cannot be
    // mapped is the fiber's error (fiber.cpp, take_stack), a size that can
    // never be is the caller's.
    if (size > max_fiber_stack) throw_stack_too_big();
    p.stack_bytes = static_cast<std::uint32_t>(size < 4096 ? 4096 : size);
  }
  p.mem = block_alloc(task_size);
  return p;
}
/// Gives back what fiber_place took, and the stack if one is still held
/// (the task block is already destroyed). Inline: every fiber's last
/// reference comes here, and it is mostly a free-list push.
inline void fiber_unplace(const FiberPlace& p, std::size_t task_size) noexcept {
  block_free(p.mem, task_size);
  if (p.stack) stack_release(p.stack);  // a finished fiber gave its stack back: rare
}

struct FiberBase;

/// A copy fiber's stack: the worker's shared stack it is bound to (from its
/// first run) and the bytes it used there when it last suspended
/// (stackful/src/copy_stack.hpp).
struct CopySave {
  SharedStack* shared = nullptr;
  char* saved = nullptr;
  std::uint32_t saved_size = 0;
  std::uint32_t saved_cap = 0;
};

/// A fiber's function with a step of its own before the fiber waits:
/// `fn.before_park()` runs on the fiber, once per arm_before_park(), the
/// next time the fiber would switch out to wait (duet::wait) or yield
/// (this_fiber::yield), before it does. The wait then polls its operation
/// again instead of parking: the step may itself have waited, and taken a
/// wake-up meant for the wait it interrupted. (duet::http's fiber engine
/// writes the answers made before a handler that runs on the connection's
/// own fiber, once that handler waits.)
template <class Fn>
concept BeforePark = requires(Fn& fn) {
  fn.before_park();
};

/// A fiber's vtable: the task's, and the entries that depend on its
/// function (static, per FiberTask type, rather than pointers in every
/// fiber).
struct FiberVTable : TaskVTable {
  /// Runs the function on the fiber's stack and stores its outcome.
  void (*body)(FiberBase*);
  /// Ends a fiber that could not start (no stack): stores the error as its
  /// outcome and destroys its function.
  void (*fail_start)(FiberBase*, std::exception_ptr) noexcept;
  /// The function's before_park (BeforePark), or null.
  void (*before_park)(FiberBase*);
};

/// Arms the calling fiber's before_park step (BeforePark) for its next wait
/// or yield. Throws std::logic_error off a fiber, or on one whose function
/// has no such step.
DUET_API void arm_before_park();
/// Disarms the calling fiber's step if it has not run (nothing off a fiber).
DUET_API void disarm_before_park() noexcept;

/// Once the calling fiber finishes, its stack goes back to the pool with
/// its pages given back (stack_recycle_cold), not among the hot stacks
/// that a next fiber reuses without a page fault: for a fiber that ends
/// because its work went idle (duet::http's fiber engine hands an idle
/// connection's wait to a small task), whose stack no burst is waiting
/// for. Nothing off a fiber, or for a copy fiber (no stack of its own).
DUET_API void release_stack_cold() noexcept;

/// arm_before_park for a scope: `on` false arms nothing; the step not run
/// by the scope's end is disarmed there.
class [[nodiscard]] ArmedBeforePark {
 public:
  explicit ArmedBeforePark(bool on) : on_(on) {
    if (on_) arm_before_park();
  }
  ~ArmedBeforePark() {
    if (on_) disarm_before_park();
  }
  ArmedBeforePark(const ArmedBeforePark&) = delete;
  ArmedBeforePark& operator=(const ArmedBeforePark&) = delete;

 private:
  bool on_;
};

/// How the thread side that entered a fiber's current run is resumed when
/// the fiber switches back to it: the state that pairs each entry of the
/// switch protocol with its exit (the table: stackful/src/switch.hpp).
enum class ReturnPath : std::uint8_t {
  ret,       // entered by a call (enter): the side is resumed by `ret`
  ret_owed,  // ... into a fresh context by a jump, not switched out since:
             // the call's return address tops the CPU's return stack, and a
             // finishing fiber pays it back with a `ret` (exit_to_caller)
  jmp,       // the worker loop's own frame (flat entry), or a hand-off in
             // its chain: the side is resumed by an indirect jump
};

/// The part of a fiber that does not depend on its function. Layout after
/// the 64-byte TaskHeader: the switch state first (hot), then the copy
/// strategy's buffer, then introspection and sanitizer fields (cold). What
/// belongs to the thread that runs a fiber rather than to the fiber (the
/// context to return to, the sanitizers' view of that thread's stack) is
/// kept per thread (fiber.cpp), which keeps a fiber's task block at 192
/// bytes for small functions and results.
struct DUET_API FiberBase : TaskHeader {
  /// Inline, with every option resolved by fiber_place: its stores merge
  /// with the function's (always: the spawn's template layers otherwise
  /// tip GCC into a call; performance log, "Pinned tasks").
  [[gnu::always_inline]] FiberBase(const FiberVTable* vt, const FiberPlace& p,
                                   const Stackful& tag) noexcept
      : TaskHeader(vt),
        strategy(p.strategy),
        measure(p.measure),
        stack_bytes(p.stack_bytes),
        site_line(tag.has_site ? tag.site.line : 0),
        name(tag.options.name),
        site_file(tag.has_site ? tag.site.file : nullptr) {
    if (strategy == StackStrategy::copy) std::construct_at(&copy);
  }
  ~FiberBase() {
    if (strategy == StackStrategy::copy) release_copy();
  }
  FiberBase(const FiberBase&) = delete;
  FiberBase& operator=(const FiberBase&) = delete;

  /// The highest address the fiber's frames may use. Inline for a stack
  /// of its own: every switch reads it (the switch statistics, and the
  /// sanitizer annotations in those builds).
  [[nodiscard]] char* frames_top() const noexcept {
    return strategy != StackStrategy::copy ? stack.top() : shared_frames_top();
  }
  /// frames_top of a copy fiber: the top of its shared stack, or null.
  [[nodiscard]] char* shared_frames_top() const noexcept;
  /// A copy fiber's destructor: its saved bytes and shared-stack binding.
  void release_copy() noexcept;
  [[nodiscard]] FiberPlace place() const noexcept {
    return FiberPlace{const_cast<FiberBase*>(this), stack, strategy, measure, stack_bytes, sched};
  }
  [[nodiscard]] const FiberVTable& fiber_vtable() const noexcept {
    return *static_cast<const FiberVTable*>(vtable);
  }

  [[nodiscard]] SpawnSite spawn_site() const noexcept { return SpawnSite{site_file, site_line}; }

  // 168 bytes (a 192-byte block with a small function and its outcome,
  // where 256 cost a parked copy fiber 64 B more): the two stack kinds share
  // their words, the flags take a word and a byte, the site line fills a
  // hole.
  void* ctx = nullptr;  // the fiber's saved context while it is suspended
  union {
    Stack stack{};  // its own stack, from its first run to its finish
    CopySave copy;  // strategy == copy: its shared stack and saved bytes
  };
  RunResult reason = RunResult::pending;  // why it switched out
  StackStrategy strategy;
  bool finished = false;
  bool unwinding = false;          // cancellation requested: waits throw FiberUnwind
  bool unwound = false;            // FiberUnwind reached the entry
  bool measure = false;            // canary-measured high-water mark
  bool stack_counted = false;      // finished: its stack already counts as given back
  bool fn_live = true;             // FiberTask: its function is not destroyed yet
  bool before_park_armed = false;  // arm_before_park: its step runs at the next wait
  bool stack_cold = false;         // release_stack_cold: finished, its stack's pages go back
  // How the side that entered this run resumes (set by every entry; the
  // entry-by-exit table is stackful/src/switch.hpp's).
  ReturnPath path = ReturnPath::ret;
  std::uint32_t stack_bytes;  // usable bytes its stack will have
  std::uint32_t site_line;    // SpawnSite, split around the holes

  // Introspection. Written by the thread that runs the fiber, read by dumps
  // on any thread: relaxed, as each is a statistic read on its own.
  std::atomic<std::uint32_t> in_use{0};      // stack bytes at its last switch
  std::atomic<std::uint32_t> high_water{0};  // most bytes seen (exact if measured)
  std::atomic<void*> parked_at{nullptr};     // return address of its last wait
  const char* name;
  const char* site_file;  // null: not recorded

  // Sanitizer bookkeeping (unused in plain builds; kept so that the layout
  // does not depend on build flags).
  void* asan_fake = nullptr;
  void* tsan_fiber = nullptr;
};

/// Vtable entries shared by all fibers (stackful/src/fiber.cpp).
DUET_API RunResult fiber_run(TaskHeader* t);
/// The stackful operations (duet/detail/stackful_ops.hpp) of a fiber with a
/// stack of its own (frames never move; the worker loop's flat entry,
/// flat_jump in common/src/sched/flat_entry.hpp) and of a copy fiber (frames move: its
/// bytes are copied out of the shared stack while it is parked; entered by
/// `run` only, as its bytes are copied in and out around the switch).
DUET_API extern const StackfulOps own_stack_ops;
DUET_API extern const StackfulOps copy_stack_ops;
/// Unwinds a started fiber. True when the fiber ended by cancellation.
DUET_API bool fiber_unwind(FiberBase* f) noexcept;

template <class Fn, class T>
struct FiberTask final : FiberBase, TaskOps<FiberTask<Fn, T>> {
  FiberTask(Fn&& f, const FiberPlace& p, const Stackful& tag)
      : FiberBase(p.strategy == StackStrategy::copy ? &copy_vtable : &vtable, p, tag) {
    std::construct_at(&fn, std::move(f));
  }
  ~FiberTask() { destroy_fn(); }
  void destroy_fn() noexcept {
    if (fn_live) {
      fn_live = false;
      std::destroy_at(&fn);
    }
  }

  static void run_body(FiberBase* b) {
    auto* self = static_cast<FiberTask*>(b);
    try {
      self->out.template capture_call<FiberUnwind>(self->fn);
    } catch (const FiberUnwind&) {
      self->destroy_fn();
      throw;
    }
    self->destroy_fn();  // captures die on the fiber, where they lived
  }

  static void run_before_park(FiberBase* b) {
    if constexpr (BeforePark<Fn>) static_cast<FiberTask*>(b)->fn.before_park();
  }

  static void fail(FiberBase* b, std::exception_ptr e) noexcept {
    auto* self = static_cast<FiberTask*>(b);
    self->destroy_fn();
    self->out.set_exception(std::move(e));
  }

  static void cancel(TaskHeader* h) noexcept {
    auto* self = static_cast<FiberTask*>(h);
    bool cancelled = fiber_unwind(self);
    self->destroy_fn();
    if (cancelled || !self->out.has_value()) self->out.set_cancelled();
  }

  /// The last reference is gone: destroy the task, then give back its
  /// heap block (and a stack, if it still holds one).
  static void destroy(TaskHeader* h) noexcept {
    auto* self = static_cast<FiberTask*>(h);
    const FiberPlace p = self->place();
    self->~FiberTask();
    fiber_unplace(p, sizeof(FiberTask));
  }

  /// Two vtables, one per stack kind (stackful_ops below): duet::wait and
  /// the join hand-off then ask a fiber's strategy without an indirect call.
  static constexpr FiberVTable make_vtable(const StackfulOps* ops) {
    return FiberVTable{{TaskKind::fiber, &fiber_run, &cancel, &destroy,
                        &TaskOps<FiberTask>::outcome, &TaskOps<FiberTask>::drop_outcome, ops},
                       &run_body,
                       &fail,
                       BeforePark<Fn> ? &run_before_park : nullptr};
  }
  static constexpr FiberVTable vtable = make_vtable(&own_stack_ops);
  static constexpr FiberVTable copy_vtable = make_vtable(&copy_stack_ops);

  union {
    Fn fn;
  };
  Outcome<T> out;
};

}  // namespace detail

}  // namespace duet

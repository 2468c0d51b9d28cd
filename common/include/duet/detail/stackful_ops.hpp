// duet/detail/stackful_ops.hpp: what the core asks of a task that runs on a
// stack of its own (a fiber), in one table. The core knows no stack
// strategy and no switch routine: it reaches them only through
// TaskVTable::stackful, which is null for every other kind of task, so a
// coroutine or a poll future pays one null test where a fiber's slot is
// read. The stackful library fills the table (stackful/src/fiber.cpp); its
// switch protocol, and which entry pairs with which exit, is written once in
// stackful/src/switch.hpp.
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <cstdint>
#include <iosfwd>

namespace duet {
struct StackMemory;  // duet/memory.hpp
}

namespace duet::detail {

struct TaskHeader;
enum class RunResult : std::uint8_t;

#if defined(__SANITIZE_THREAD__)
#define DUET_FLAT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DUET_FLAT_TSAN 1
#endif
#endif

/// A fiber entered from the worker loop's own frame rather than through
/// `run` (common/src/sched/flat_entry.hpp says why): the context
/// to resume and the switch routine that resumes it, entered by a jump with
/// the loop's resume address pushed. Null ctx: no jump (the loop calls `run`).
struct FlatEntry {
  void* ctx = nullptr;
  void (*routine)() = nullptr;
#ifdef DUET_FLAT_TSAN
  // TSan's fiber for the context: the loop switches TSan to it right
  // before the jump, in the jumping function (TSan keeps a shadow call
  // stack per fiber: a hook that switched and then returned would record
  // its return on the fiber's).
  void* tsan_fiber = nullptr;
#endif
};

/// What the context that switched back to the loop passed: its own saved
/// context and the task whose run ended.
struct FlatTransfer {
  void* ctx = nullptr;
  void* data = nullptr;
};

/// Where a task was spawned and what it is called, where it records them
/// (null / 0 where not): a drain's report (duet/drain.hpp).
struct TaskSite {
  const char* file = nullptr;
  std::uint_least32_t line = 0;
  const char* name = nullptr;
  /// A function whose symbol names what the task runs (a fiber's typed
  /// body, the class template whose arguments are its function's type).
  const void* code = nullptr;
};

/// The stackful operations of a task kind (TaskVTable::stackful).
struct StackfulOps {
  /// Suspends the calling task until woken (duet::wait on a fiber).
  void (*block)(TaskHeader*);
  /// True when the task's frames are moved out while it is suspended (the
  /// core knows no stack strategy, only this property; stackful's copy
  /// fibers have it): an operation it waits on must then not live in its
  /// frames, so duet::wait moves an rvalue operation to the heap first, and
  /// the join hand-off never runs a child on or inside it. Null: never.
  bool (*frames_move)(const TaskHeader*);
  /// The worker loop's flat entry (null: always `run`). `flat_enter`
  /// readies the task and says where to jump; after the jump back,
  /// `flat_entered` does what `run` does after its switch and returns how
  /// the run that ended (the current task's) ended.
  FlatEntry (*flat_enter)(TaskHeader*) noexcept;
  RunResult (*flat_entered)(FlatTransfer) noexcept;
  /// The backend's part of a task's line in dump_tasks (duet/dump.hpp).
  void (*describe)(const TaskHeader*, std::ostream&);
  /// The task's spawn site and name (TaskSite).
  TaskSite (*site)(const TaskHeader*) noexcept;
  /// Whether a parked task of this kind may have stack pages to give back
  /// (RuntimeConfig::fiber_stack_trim_after): read without holding it, so
  /// only from what a run cannot tear (atomics, fields set at spawn). Null:
  /// never (a copy fiber's bytes are copied out of its shared stack
  /// already).
  bool (*may_trim)(const TaskHeader*) noexcept = nullptr;
  /// Gives back the stack pages below the stack pointer of each of the
  /// `n` tasks, every one of which the caller holds parked (task/harness.hpp,
  /// hold_parked: no worker runs it until the hold ends). Returns the pages
  /// given back.
  std::size_t (*trim_parked)(TaskHeader* const* held, std::size_t n) noexcept = nullptr;
};

/// What the core reads of the stackful module that is not a task's: the
/// stack pool's figures for Runtime::memory_stats(). The module plugs it in by
/// one weak symbol, as the I/O backends plug in theirs
/// (common/src/driver/make_driver.cpp): `duet_stack_memory_source`, defined
/// in stackful/src/stack_pool.cpp, null when that module is not linked.
using StackMemorySource = void (*)(StackMemory&);

/// What the stackful module tells the core: a measured fiber finished with
/// this stack high-water mark, on the calling thread. On a worker, recorded
/// in its histogram (WorkerHistograms::fiber_stack); elsewhere, nothing.
DUET_API void record_fiber_stack_mark(std::uint64_t bytes) noexcept;

}  // namespace duet::detail

// place.cpp: where a new fiber's task block and stack come from.
#include <atomic>
#include <stdexcept>

#include "copy_stack.hpp"
#include "duet/detail/block_cache.hpp"
#include "duet/runtime.hpp"
#include "duet/stackful/fiber.hpp"
#include "duet/stackful/introspect.hpp"
#include "sanitizer.hpp"
#include "stack_stats.hpp"

namespace duet::detail {

/// The last runtime that spawned a fiber: where stackful/gdb/duet-gdb.py
/// starts when not told which runtime to list. Relaxed: a debugger reads
/// it with the process stopped.
std::atomic<Scheduler*> g_gdb_last_scheduler{nullptr};

FiberPlace fiber_place(Runtime& rt, const FiberOptions& o, std::size_t task_size) {
  const RuntimeConfig& cfg = rt.config();
  FiberPlace p;
  p.strategy = o.strategy.value_or(cfg.fiber_stack_strategy);
  p.sched = scheduler_of(rt);
  if (g_gdb_last_scheduler.load(std::memory_order_relaxed) != p.sched) {
    g_gdb_last_scheduler.store(p.sched, std::memory_order_relaxed);
  }
  if (p.strategy == StackStrategy::copy) {
    p.mem = block_alloc(task_size);
    return p;
  }
  std::size_t size = o.stack_size;
  if (size == 0) {
    size = p.strategy == StackStrategy::lazy
               ? tuning_cells().lazy_reserve_bytes.load(std::memory_order_relaxed)
               : cfg.fiber_stack_size;
  }
  const std::size_t block = (task_size + block_align - 1) / block_align * block_align;
  if (size < block + 1024) size = block + 1024;  // room for the task and a few frames
  p.stack = stack_acquire(p.strategy, size);
  // ASan builds: a reused stack still carries the redzones of frames that
  // never returned (the entry frame of every finished fiber).
  san::unpoison(p.stack.bottom(), p.stack.usable());
  // The task block takes the top of the stack (that page is touched by the
  // first frame anyway); its frames start below it.
  p.mem = p.stack.top() - block;
  return p;
}

void fiber_unplace(const FiberPlace& p, std::size_t task_size) noexcept {
  if (p.strategy == StackStrategy::copy) {
    block_free(p.mem, task_size);
  } else {
    stack_release(p.stack);
  }
}

}  // namespace duet::detail

namespace duet::this_fiber {

std::size_t stack_in_use() noexcept {
  auto* t = detail::current_task();
  if (t == nullptr || t->vtable->kind != detail::TaskKind::stackful) return 0;
  auto* f = static_cast<detail::FiberBase*>(t);
  char here = 0;
  return static_cast<std::size_t>(f->frames_top() - &here);
}

std::size_t stack_size() noexcept {
  auto* t = detail::current_task();
  if (t == nullptr || t->vtable->kind != detail::TaskKind::stackful) return 0;
  auto* f = static_cast<detail::FiberBase*>(t);
  const detail::Stack& s = f->strategy == StackStrategy::copy ? f->shared->mem : f->stack;
  return static_cast<std::size_t>(f->frames_top() - s.bottom());
}

}  // namespace duet::this_fiber

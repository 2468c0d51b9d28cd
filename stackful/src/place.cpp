// place.cpp: where a new fiber's task block and stack come from.
#include <atomic>
#include <stdexcept>

#include "copy_stack.hpp"
#include "duet/detail/block_cache.hpp"
#include "duet/runtime.hpp"
#include "duet/stackful/fiber.hpp"
#include "duet/stackful/introspect.hpp"
#include "high_water.hpp"
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
  p.measure = o.measure_stack || measure_all_fibers();
  p.sched = scheduler_of(rt);
  if (g_gdb_last_scheduler.load(std::memory_order_relaxed) != p.sched) {
    g_gdb_last_scheduler.store(p.sched, std::memory_order_relaxed);
  }
  if (p.strategy != StackStrategy::copy) {
    std::size_t size = o.stack_size;
    if (size == 0) {
      size = p.strategy == StackStrategy::lazy
                 ? tuning_cells().lazy_reserve_bytes.load(std::memory_order_relaxed)
                 : cfg.fiber_stack_size;
    }
    // Checked here, so that the spawner hears of it: a stack that cannot be
    // mapped is the fiber's error (fiber.cpp, take_stack), a size that can
    // never be is the caller's.
    if (size > max_fiber_stack) {
      throw std::invalid_argument("duet: a fiber stack may be at most 1 GiB (max_fiber_stack)");
    }
    p.stack_bytes = static_cast<std::uint32_t>(size < 4096 ? 4096 : size);
  }
  p.mem = block_alloc(task_size);
  return p;
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
  const detail::Stack& s = f->strategy == StackStrategy::copy ? f->copy.shared->mem : f->stack;
  return static_cast<std::size_t>(f->frames_top() - s.bottom());
}

}  // namespace duet::this_fiber

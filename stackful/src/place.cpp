// place.cpp: fiber_place's out-of-line halves (fiber.hpp resolves a spawn's
// options inline), and the this_fiber queries of where a fiber's frames are.
#include <atomic>
#include <stdexcept>

#include "copy_stack.hpp"
#include "duet/detail/block_cache.hpp"
#include "duet/runtime.hpp"
#include "duet/stackful/fiber.hpp"
#include "duet/stackful/introspect.hpp"
#include "stack_stats.hpp"

namespace duet::detail {

std::size_t lazy_reserve_default() noexcept {
  return tuning_cells().lazy_reserve_bytes.load(std::memory_order_relaxed);
}

void throw_stack_too_big() {
  throw std::invalid_argument("duet: a fiber stack may be at most 1 GiB (max_fiber_stack)");
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

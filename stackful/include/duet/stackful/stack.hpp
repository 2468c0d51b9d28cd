// duet/stackful/stack.hpp: fiber stacks: mapped memory with a guard page,
// pooled so that a spawn does not mmap.
//
//   base                         base+guard                         top
//   | guard (PROT_NONE, 1 page)  | usable (grows down from top) ... |
//
// Only the pages a fiber touches cost memory; the mapping is
// MAP_NORESERVE. Each guarded stack is two mappings (the guard splits it),
// which counts against vm.max_map_count: acquiring a stack past that limit
// throws a StackError that names the limit.
#pragma once

#include <cstddef>
#include <system_error>

namespace duet {

/// A fiber stack could not be mapped (out of memory, address space, or
/// vm.max_map_count). The message says which and what to raise.
class StackError : public std::system_error {
 public:
  using std::system_error::system_error;
};

namespace detail {

struct Stack {
  char* base = nullptr;     // lowest address of the mapping
  std::size_t size = 0;     // whole mapping, guard included
  std::size_t guard = 0;    // guard bytes at the low end
  [[nodiscard]] char* top() const noexcept { return base + size; }
  [[nodiscard]] char* bottom() const noexcept { return base + guard; }
  [[nodiscard]] std::size_t usable() const noexcept { return size - guard; }
  explicit operator bool() const noexcept { return base != nullptr; }
};

/// A stack with at least `usable` bytes (rounded up to pages), from the
/// calling thread's pool, the global pool, or a new mapping. Throws
/// StackError.
Stack stack_acquire(std::size_t usable, bool guard);
/// Returns a stack to the pools (or unmaps it when they are full).
void stack_release(Stack s) noexcept;

struct StackPoolStats {
  std::size_t mapped = 0;        // stacks mapped so far (process-wide)
  std::size_t unmapped = 0;      // stacks unmapped so far
  std::size_t pooled_bytes = 0;  // bytes held in the global pool now
};
StackPoolStats stack_pool_stats() noexcept;

}  // namespace detail
}  // namespace duet
